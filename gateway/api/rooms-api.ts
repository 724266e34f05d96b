// The server API's rooms and members (README: Chat API), for the application's backend.
import type { Sql } from '../../shared/db/client';
import { ApiError, requireServer } from './errors';
import type { ApiHandler } from './http-api';
import { route, type Route } from './router';
import { CreateRoomBody, limitParam, parseBody, PutMemberBody, UpdateRoomBody, uuidParam } from './schemas';
import { listMembers, putMember, removeMember, type WrittenEvent } from './sql/members';
import { createRoom, getRoom, roomExists, updateRoom } from './sql/rooms';

const MEMBERS_PAGE_MAX = 100;

/** Member list cursors: opaque to clients (the last user id of the page, base64url). */
const encodeCursor = (userId: string) => Buffer.from(userId).toString('base64url');
function decodeCursor(cursor: string | null): string | null {
  if (cursor === null) return null;
  const userId = Buffer.from(cursor, 'base64url').toString();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(userId))
    throw new ApiError('invalid_request', 'cursor is not one this API gave out');
  return userId;
}

const noRoom = () => new ApiError('not_found', 'no such room');

/** Publishes a room event that was just committed (its outbox row publishes it again later; receivers drop the copy). */
export type PublishCommitted = (roomId: string, event: WrittenEvent) => void;

export function roomRoutes(sql: Sql, publishCommitted: PublishCommitted): Route<ApiHandler>[] {
  return [
    route<ApiHandler>('POST', '/v1/rooms', async ({ caller, body }) => {
      requireServer(caller);
      const input = parseBody(CreateRoomBody, body);
      const room = await createRoom(sql, {
        id: input.id?.toLowerCase() ?? null,
        name: input.name,
        description: input.description ?? null,
        members: (input.members ?? []).map((m) => ({ user_id: m.user_id.toLowerCase(), role: m.role ?? 'participant' })),
      });
      if (!room) throw new ApiError('conflict', 'a room with this id exists');
      return { status: 201, body: { room } };
    }),
    route<ApiHandler>('GET', '/v1/rooms/:room_id', async ({ caller, params }) => {
      requireServer(caller);
      const found = await getRoom(sql, uuidParam('room_id', params.room_id!));
      if (!found) throw noRoom();
      const { member_count, ...room } = found;
      return { status: 200, body: { room, member_count } };
    }),
    route<ApiHandler>('PATCH', '/v1/rooms/:room_id', async ({ caller, params, body }) => {
      requireServer(caller);
      const roomId = uuidParam('room_id', params.room_id!);
      const room = await updateRoom(sql, roomId, parseBody(UpdateRoomBody, body));
      if (!room) throw noRoom();
      return { status: 200, body: { room } };
    }),
    route<ApiHandler>('GET', '/v1/rooms/:room_id/members', async ({ caller, params, query }) => {
      requireServer(caller);
      const roomId = uuidParam('room_id', params.room_id!);
      const limit = limitParam(query, 50, MEMBERS_PAGE_MAX);
      const after = decodeCursor(query.get('cursor'));
      const rows = await listMembers(sql, roomId, after, limit);
      if (rows.length === 0 && !(await roomExists(sql, roomId))) throw noRoom();
      const members = rows.slice(0, limit);
      return { status: 200, body: { members, next_cursor: rows.length > limit ? encodeCursor(members.at(-1)!.user_id) : null } };
    }),
    route<ApiHandler>('PUT', '/v1/rooms/:room_id/members/:user_id', async ({ caller, params, body }) => {
      requireServer(caller);
      const roomId = uuidParam('room_id', params.room_id!);
      const userId = uuidParam('user_id', params.user_id!);
      const { role } = parseBody(PutMemberBody, body ?? {});
      const result = await putMember(sql, roomId, userId, role ?? null);
      if (result.outcome === 'no_room') throw noRoom();
      return { status: result.outcome === 'added' ? 201 : 200, body: { member: result.member } };
    }),
    route<ApiHandler>('DELETE', '/v1/rooms/:room_id/members/:user_id', async ({ caller, params }) => {
      requireServer(caller);
      const roomId = uuidParam('room_id', params.room_id!);
      const result = await removeMember(sql, roomId, uuidParam('user_id', params.user_id!));
      if (result.outcome !== 'removed') throw result.outcome === 'no_room' ? noRoom() : new ApiError('not_found', 'not an active member of this room');
      // Cut off at once on every gateway, also while the outbox workers lag.
      if (result.event) publishCommitted(roomId, result.event);
      return { status: 204 };
    }),
  ];
}
