// The preprocessing sidecar (README: Document worker): `POST {base}/internal/documents/{id}/parse` with
// `{userId}`; it answers success or failure as JSON and returns no data.
import { bodySnippet, isRetryableStatus } from '../http-status';
import { postJson } from '../post-json';

export type ParseResult = { ok: true } | { ok: false; error: string; retryable: boolean };

export interface SidecarClient {
  parse(documentId: string, userId: string): Promise<ParseResult>;
}

export function parseUrl(baseUrl: string, documentId: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/internal/documents/${encodeURIComponent(documentId)}/parse`;
}

/**
 * What a sidecar answer means. Success is a 2xx with an empty body or a JSON object that
 * does not say `success: false`. Anything else fails; only 4xx answers other than 408/429
 * (the request itself is wrong) are not worth retrying.
 */
export function interpretParseResponse(status: number, body: string): ParseResult {
  if (status < 200 || status > 299) {
    return { ok: false, error: `sidecar answered HTTP ${status}: ${bodySnippet(body)}`, retryable: isRetryableStatus(status) };
  }
  if (body.trim() === '') return { ok: true };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, error: `sidecar answered HTTP ${status} with a body that is not JSON: ${bodySnippet(body)}`, retryable: true };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return { ok: false, error: `sidecar answered HTTP ${status} with JSON that is not an object: ${bodySnippet(body)}`, retryable: true };
  }
  const answer = parsed as { success?: unknown; error?: unknown; message?: unknown; detail?: unknown };
  if (answer.success === false) {
    const reason = [answer.error, answer.message, answer.detail].find((x) => typeof x === 'string') as string | undefined;
    return { ok: false, error: `sidecar reported failure: ${reason ?? bodySnippet(body)}`, retryable: true };
  }
  return { ok: true };
}

export function createSidecarClient(baseUrl: string, timeoutMs: number): SidecarClient {
  return {
    async parse(documentId, userId) {
      const result = await postJson(parseUrl(baseUrl, documentId), { userId }, { timeoutMs });
      if (!result.ok) return { ok: false, error: `sidecar unreachable: ${result.error}`, retryable: true };
      return interpretParseResponse(result.status, result.body);
    },
  };
}
