// The user API (README: Chat API): a user's rooms and a room's history. A user reads only the
// rooms it is an active member of, checked on every request (a removed member is refused at
// once); the server key reads any room.
import type { Sql } from '../../shared/db/client';
import { findMembership } from '../sql/membership';
import { ApiError } from './errors';
import type { ApiHandler, Caller } from './http-api';
import { route, type Route } from './router';
import { limitParam, uuidParam } from './schemas';
import { readHistory } from './sql/history';
import { myRooms } from './sql/my-rooms';
import { roomExists } from './sql/rooms';
import { searchMessages } from './sql/search';

const HISTORY_PAGE_MAX = 100;
const SEARCH_QUERY_MAX = 200;
/** A room list of more than this many rooms is cut to the most recent ones. */
const MY_ROOMS_MAX = 500;

/** A seq from the query: a non-negative integer, or null when absent. */
function seqParam(query: URLSearchParams, name: string): number | null {
  const raw = query.get(name);
  if (raw === null) return null;
  if (!/^\d{1,15}$/.test(raw)) throw new ApiError('invalid_request', `${name} must be a non-negative integer`);
  return Number(raw);
}

/** Refuses a user who is not an active member of the room (and, for the server, a room that does not exist). */
async function requireReader(sql: Sql, caller: Caller, roomId: string): Promise<void> {
  if (caller.kind === 'server') {
    if (!(await roomExists(sql, roomId))) throw new ApiError('not_found', 'no such room');
    return;
  }
  if (!(await findMembership(sql, roomId, caller.userId))) throw new ApiError('Forbidden: not a member');
}

export function historyRoutes(sql: Sql): Route<ApiHandler>[] {
  return [
    route<ApiHandler>('GET', '/v1/me/rooms', async ({ caller }) => {
      if (caller.kind !== 'user') throw new ApiError('Forbidden: not allowed', 'this endpoint takes a user token');
      return { status: 200, body: { rooms: await myRooms(sql, caller.userId, MY_ROOMS_MAX) } };
    }),
    route<ApiHandler>('GET', '/v1/rooms/:room_id/messages', async ({ caller, params, query }) => {
      const roomId = uuidParam('room_id', params.room_id!);
      const limit = limitParam(query, 50, HISTORY_PAGE_MAX);
      const afterSeq = seqParam(query, 'after_seq');
      const beforeSeq = seqParam(query, 'before_seq');
      if (afterSeq !== null && beforeSeq !== null && beforeSeq <= afterSeq) throw new ApiError('invalid_request', 'before_seq must be greater than after_seq');
      await requireReader(sql, caller, roomId);
      return { status: 200, body: await readHistory(sql, roomId, { afterSeq, beforeSeq }, limit) };
    }),
    route<ApiHandler>('GET', '/v1/rooms/:room_id/messages/search', async ({ caller, params, query }) => {
      const roomId = uuidParam('room_id', params.room_id!);
      const q = (query.get('q') ?? '').trim();
      if (q.length === 0 || [...q].length > SEARCH_QUERY_MAX) throw new ApiError('invalid_request', `q must be 1 to ${SEARCH_QUERY_MAX} characters`);
      const limit = limitParam(query, 20, HISTORY_PAGE_MAX);
      const beforeSeq = seqParam(query, 'before_seq');
      await requireReader(sql, caller, roomId);
      return { status: 200, body: await searchMessages(sql, roomId, q, beforeSeq, limit) };
    }),
  ];
}
