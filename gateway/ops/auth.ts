import { ProtocolError } from '../../shared/protocol/errors';
import type { Session, Socket } from '../session';
import type { OpContext, Reply } from './context';

export const CLOSE_TOKEN_EXPIRED = 4003;

/** setTimeout's longest delay; a later expiry is checked again when this one fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export async function auth(ctx: OpContext, ws: Socket, session: Session, token: string): Promise<Reply> {
  const identity = await ctx.authenticate(token);
  if (!identity) return { op: 'auth', success: false, error: ProtocolError.unauthorized };
  // A socket may refresh its token, but it cannot become somebody else.
  if (session.userId && session.userId !== identity.userId) return { op: 'auth', success: false, error: ProtocolError.alreadyAuthenticated };
  session.userId = identity.userId;
  if (session.authTimer) clearTimeout(session.authTimer);
  session.authTimer = null;
  closeOnExpiry(ws, session, identity.expiresAtMs);
  return { op: 'auth', success: true, userId: identity.userId };
}

/**
 * A socket is authorised only while its token is: when it expires, the socket is closed
 * with 4003 unless a fresh `auth` came first (the client reconnects with a new token).
 */
function closeOnExpiry(ws: Socket, session: Session, expiresAtMs: number | null): void {
  if (session.expiryTimer) clearTimeout(session.expiryTimer);
  session.expiryTimer = null;
  if (expiresAtMs === null) return;
  const check = () => {
    session.expiryTimer = null;
    if (session.closed) return;
    const left = expiresAtMs - Date.now();
    if (left <= 0) ws.end(CLOSE_TOKEN_EXPIRED, 'token expired');
    else session.expiryTimer = setTimeout(check, Math.min(left, MAX_TIMER_MS));
  };
  check();
}
