// The chat API over HTTP on the gateway's port (README: Chat API): reads a request off uWS
// (headers while the handler runs, then the body up to a limit), authenticates it (a server
// key, else a user's token), applies the caller's rate limit, runs the route and writes JSON.
// Every failure is an ApiError with a stable string; anything else is logged and answered
// 503 without its message.
import type { Logger } from '../../shared/logger';
import type { Authenticate } from '../auth';
import { sendJson } from '../http';
import { createTokenBucket, takeToken, type TokenBucket } from '../rate-limit';
import type { UWS } from '../uws';
import { ApiError } from './errors';
import { matchRoute, type Route } from './router';
import { createServerKeys } from './server-keys';

/** Who is calling: the application's backend (a server key), or a user (the WebSocket token). */
export type Caller = { kind: 'server' } | { kind: 'user'; userId: string };

export interface ApiRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body; undefined when there is none. */
  body: unknown;
  idempotencyKey: string | null;
  caller: Caller;
}

export interface ApiResponse {
  status: number;
  body?: unknown;
}

export type ApiHandler = (request: ApiRequest) => Promise<ApiResponse>;

export interface ApiOptions {
  routes: readonly Route<ApiHandler>[];
  serverKeys: string;
  /** A user's token (dev UUID or RS256 JWT) → user id, as for the WebSocket. */
  authenticateUser: Authenticate;
  maxBodyBytes: number;
  /** Requests per caller: a bucket of `rlCapacity` refilled every `rlRefillMs`. */
  rlCapacity: number;
  rlRefillMs: number;
  logger: Logger;
  draining(): boolean;
}

const MAX_BUCKETS = 100_000;

export function createApi(options: ApiOptions) {
  const keys = createServerKeys(options.serverKeys);
  const buckets = new Map<string, TokenBucket>();

  const authenticate = async (authorization: string): Promise<{ caller: Caller; bucketKey: string }> => {
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (!match) throw new ApiError('Unauthorized', 'Authorization: Bearer <server key or user token> required');
    const token = match[1]!;
    if (keys.check(token)) return { caller: { kind: 'server' }, bucketKey: `key:${token}` };
    const identity = await options.authenticateUser(token);
    if (!identity) throw new ApiError('Unauthorized', 'unknown key or invalid token');
    return { caller: { kind: 'user', userId: identity.userId }, bucketKey: `user:${identity.userId}` };
  };

  const rateLimit = (bucketKey: string) => {
    const now = Date.now();
    let bucket = buckets.get(bucketKey);
    if (!bucket) {
      if (buckets.size >= MAX_BUCKETS) buckets.delete(buckets.keys().next().value!);
      buckets.set(bucketKey, (bucket = createTokenBucket(options.rlCapacity, now)));
    }
    if (!takeToken(bucket, options.rlCapacity, options.rlRefillMs, now)) throw new ApiError('rate_limited');
  };

  const parseBody = (raw: Buffer, contentType: string): unknown => {
    if (raw.length === 0) return undefined;
    if (!/^application\/json\b/i.test(contentType)) throw new ApiError('unsupported_media_type', 'send JSON (content-type: application/json)');
    try {
      return JSON.parse(raw.toString('utf8'));
    } catch {
      throw new ApiError('invalid_request', 'body is not valid JSON');
    }
  };

  /** The uWS handler for every path under /v1. */
  return (res: UWS.HttpResponse, req: UWS.HttpRequest): void => {
    // uWS: the request is only readable now, the response only until it is aborted.
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const query = new URLSearchParams(req.getQuery() ?? '');
    const authorization = req.getHeader('authorization');
    const contentType = req.getHeader('content-type');
    const idempotencyKey = req.getHeader('idempotency-key') || null;
    const declaredLength = Number(req.getHeader('content-length') || 0);
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const answer = (status: number, body?: unknown) => {
      if (!aborted) sendJson(res, status, body);
    };

    const run = async (raw: Buffer): Promise<ApiResponse> => {
      if (options.draining()) throw new ApiError('unavailable', 'shutting down');
      const found = matchRoute(options.routes, method, path);
      if (found === null) throw new ApiError('not_found', 'no such endpoint');
      if (found === 'method_not_allowed') throw new ApiError('method_not_allowed');
      const { caller, bucketKey } = await authenticate(authorization);
      rateLimit(bucketKey);
      return found.handler({ params: found.params, query, body: parseBody(raw, contentType), idempotencyKey, caller });
    };

    const respond = (raw: Buffer) => {
      run(raw).then(
        ({ status, body }) => answer(status, body),
        (err: unknown) => {
          if (err instanceof ApiError) return answer(err.status, err.body());
          options.logger.error({ err, method, path }, 'API request failed');
          answer(503, new ApiError('unavailable').body());
        },
      );
    };

    if (declaredLength > options.maxBodyBytes) {
      answer(413, new ApiError('payload_too_large', `at most ${options.maxBodyBytes} bytes`).body());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    res.onData((chunk, isLast) => {
      if (refused) return;
      size += chunk.byteLength;
      if (size > options.maxBodyBytes) {
        refused = true;
        answer(413, new ApiError('payload_too_large', `at most ${options.maxBodyBytes} bytes`).body());
        return;
      }
      // uWS reuses the chunk's memory after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) respond(Buffer.concat(chunks));
    });
  };
}
