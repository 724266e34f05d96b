-- Membership ids travel as JSON numbers too (the join reply's membership_id, member.removed
-- events): like message and outbox ids (0005_room_seq.sql) they must stay exact in
-- JavaScript. Past 2^53 − 1 a new or restored membership fails with "reached maximum value
-- of sequence" instead of reporting a wrong id.
ALTER SEQUENCE arcyou_chat_membership_id_seq MAXVALUE 9007199254740991;
