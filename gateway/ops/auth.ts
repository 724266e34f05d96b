import type { Session } from '../session';
import { UNAUTHORIZED, type OpContext, type Reply } from './context';

export async function auth(ctx: OpContext, session: Session, token: string): Promise<Reply> {
  const userId = await ctx.authenticate(token);
  if (!userId) return { op: 'auth', success: false, error: UNAUTHORIZED };
  // A socket may refresh its token, but it cannot become somebody else.
  if (session.userId && session.userId !== userId) return { op: 'auth', success: false, error: 'already_authenticated' };
  session.userId = userId;
  if (session.authTimer) clearTimeout(session.authTimer);
  session.authTimer = null;
  return { op: 'auth', success: true, userId };
}
