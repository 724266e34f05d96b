// The one way workers call an HTTP service: POST JSON with a deadline, and get back either
// the response or a sentence saying why there was none (never a thrown fetch error).

export type PostJsonResult = { ok: true; status: number; body: string } | { ok: false; error: string };

export interface PostJsonOptions {
  timeoutMs: number;
  headers?: Record<string, string>;
}

export async function postJson(url: string, body: unknown, options: PostJsonOptions): Promise<PostJsonResult> {
  try {
    // The deadline covers the whole exchange, body included: a server that sends
    // headers and then stalls still times out.
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...options.headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    return { ok: true, status: response.status, body: await response.text() };
  } catch (err) {
    return { ok: false, error: describeFetchError(err, options.timeoutMs) };
  }
}

export function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code) return `connection failed: ${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  if (cause?.message) return `request failed: ${cause.message}`;
  return `request failed: ${err instanceof Error ? err.message : String(err)}`;
}
