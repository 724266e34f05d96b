import type { Sql } from '../../shared/db/client';
import type { Logger } from '../../shared/logger';
import type { Authenticate } from '../auth';
import type { Fanout } from '../delivery/fanout';
import type { SendBatcher } from '../send-batcher';
import type { RequestIds } from '../frames';
import type { Socket } from '../session';

export interface OpContext {
  sql: Sql;
  fanout: Fanout;
  authenticate: Authenticate;
  logger: Logger;
  backfillLimit: number;
  /** Messages read from PostgreSQL per query (backfill pages). */
  pageSize: number;
  /** Stores sends (group commit) and publishes them (fast path). */
  sends: SendBatcher;
  /** Sends frames to a socket, closing it if it is over its high-water mark. */
  send(ws: Socket, frames: readonly string[]): boolean;
}

export type Reply = { op: string; success: boolean } & Record<string, unknown>;

export function withIds(reply: Reply, ids: RequestIds): Reply {
  if (ids.temp_id !== undefined) reply.temp_id = ids.temp_id;
  if (ids.request_id !== undefined) reply.request_id = ids.request_id;
  return reply;
}

export const NOT_A_MEMBER = 'Forbidden: not a member';
export const NOT_JOINED = 'Forbidden: not joined';
export const NOT_ALLOWED = 'Forbidden: not allowed';
export const NOT_FOUND = 'not_found';
export const UNAUTHORIZED = 'Unauthorized';
