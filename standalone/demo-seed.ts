// Seeds the demo room (shared/demo-room.ts) on every start; safe to repeat. The room's
// first creation also posts a welcome message, so the first join shows a backfill.
import type { Sql } from '../shared/db/client';
import { DEMO_ROOM, DEMO_USERS } from '../shared/demo-room';
import { insertMessages } from '../gateway/sql/insert-messages';

/** Returns true when this call created the room (first start on this database). */
export async function seedDemoRoom(sql: Sql): Promise<boolean> {
  const created = await sql`
    INSERT INTO arcyou_chat_rooms (id, name, description)
    VALUES (${DEMO_ROOM.id}, ${DEMO_ROOM.name}, ${DEMO_ROOM.description})
    ON CONFLICT (id) DO NOTHING
    RETURNING id`;
  const userIds = DEMO_USERS.map((user) => user.id);
  await sql`
    INSERT INTO arcyou_chat_members (room_id, user_id, role)
    SELECT ${DEMO_ROOM.id}, user_id, CASE WHEN ord = 1 THEN 'owner' ELSE 'participant' END::arcyou_chat_member_role
    FROM unnest(${userIds}::uuid[]) WITH ORDINALITY AS u(user_id, ord)
    ON CONFLICT (room_id, user_id) DO NOTHING`;
  if (created.length === 0) return false;
  const [host] = DEMO_USERS;
  const content = { text: `Welcome to the ${DEMO_ROOM.name}! Messages sent before you joined arrive as backfill.` };
  await insertMessages(sql, [{ roomId: DEMO_ROOM.id, userId: host!.id, content, extra: {} }], { fastPathOwner: null, fastLockSeconds: 0, notify: true });
  return true;
}
