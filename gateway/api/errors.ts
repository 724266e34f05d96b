// The HTTP API's errors: a status and a stable string clients can branch on (README: Chat
// API) — the WebSocket's string where it means the same — with an optional human-readable
// detail. Nothing else of an internal error leaves.
import { ProtocolError } from '../../shared/protocol/errors';

export const API_ERRORS = {
  [ProtocolError.invalidRequest]: 400,
  [ProtocolError.unauthorized]: 401,
  [ProtocolError.notAMember]: 403,
  [ProtocolError.notAllowed]: 403,
  [ProtocolError.notFound]: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  [ProtocolError.rateLimited]: 429,
  [ProtocolError.unavailable]: 503,
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
