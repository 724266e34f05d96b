import type { Sql } from '../../shared/db/client';
import type { Logger } from '../../shared/logger';
import type { ProtocolError } from '../../shared/protocol/errors';
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

/** An op's reply: a success, or a refusal with one of the protocol's error strings. */
export type Reply = ({ op: string; success: true } | { op: string; success: false; error: ProtocolError; detail?: string }) & Record<string, unknown>;

export function withIds(reply: Reply, ids: RequestIds): Reply {
  if (ids.temp_id !== undefined) reply.temp_id = ids.temp_id;
  if (ids.request_id !== undefined) reply.request_id = ids.request_id;
  return reply;
}
