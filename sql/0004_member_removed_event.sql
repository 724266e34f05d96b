-- When a member leaves or is removed (deleted_at set, or the row deleted), tell the
-- gateways through the outbox, so that sockets of that user stop receiving the room's
-- live events at once. Written by a trigger so every path that removes a member is covered.
CREATE FUNCTION arcyou_chat_member_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox (type, room_id, payload)
  VALUES ('member.removed', OLD.room_id, jsonb_build_object('user_id', OLD.user_id));
  RETURN NULL;
END;
$$;

CREATE TRIGGER arcyou_chat_member_left AFTER UPDATE OF deleted_at ON arcyou_chat_members
  FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
  EXECUTE FUNCTION arcyou_chat_member_removed();

CREATE TRIGGER arcyou_chat_member_deleted AFTER DELETE ON arcyou_chat_members
  FOR EACH ROW WHEN (OLD.deleted_at IS NULL)
  EXECUTE FUNCTION arcyou_chat_member_removed();
