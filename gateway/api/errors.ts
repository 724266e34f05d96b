// The HTTP API's errors: a status and a stable string clients can branch on (README: Chat
// API) — the WebSocket's string where it means the same — with an optional human-readable
// detail. Nothing else of an internal error leaves.
import { Errors } from '../frames';
import { NOT_A_MEMBER, NOT_ALLOWED, NOT_FOUND, UNAUTHORIZED } from '../ops/context';

export const API_ERRORS = {
  [Errors.invalidRequest]: 400,
  [UNAUTHORIZED]: 401,
  [NOT_A_MEMBER]: 403,
  [NOT_ALLOWED]: 403,
  [NOT_FOUND]: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  unavailable: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    readonly detail?: string,
  ) {
    super(detail ? `${code}: ${detail}` : code);
    this.status = API_ERRORS[code];
  }

  body(): { error: ApiErrorCode; detail?: string } {
    return this.detail === undefined ? { error: this.code } : { error: this.code, detail: this.detail };
  }
}

/** The server API: the application's backend only. */
export function requireServer(caller: { kind: string }): void {
  if (caller.kind !== 'server') throw new ApiError('Forbidden: not allowed', 'this endpoint takes a server key');
}
