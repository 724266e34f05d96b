// Server-side messages (README: Chat API): the application's backend writes a message as a
// member, through the same batches, transaction and outbox as a WebSocket send.
import * as v from 'valibot';
import type { Logger } from '../../shared/logger';
import { messageContent } from '../frames';
import type { SendBatcher } from '../send-batcher';
import { idsExhausted } from '../sql/insert-messages';
import { ApiError, requireServer } from './errors';
import type { ApiHandler } from './http-api';
import { route, type Route } from './router';
import { parseBody, uuidParam } from './schemas';

const PostMessageBody = v.strictObject({
  user_id: v.pipe(v.string(), v.uuid('must be a UUID')),
  content: messageContent,
  type: v.optional(v.picklist(['text', 'system'], 'must be text or system')),
});

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,128}$/;

/** `logger` hears of exhausted message ids: an operator must act. */
export function messageRoutes(sends: SendBatcher, logger: Logger): Route<ApiHandler>[] {
  return [
    route<ApiHandler>('POST', '/v1/rooms/:room_id/messages', async ({ caller, params, body, idempotencyKey }) => {
      requireServer(caller);
      const roomId = uuidParam('room_id', params.room_id!);
      const input = parseBody(PostMessageBody, body);
      if (idempotencyKey !== null && !IDEMPOTENCY_KEY.test(idempotencyKey))
        throw new ApiError('invalid_request', 'Idempotency-Key must be 1–128 printable ASCII characters');
      let stored;
      try {
        stored = await sends.send(
          {
            roomId,
            userId: input.user_id.toLowerCase(),
            type: input.type ?? 'text',
            content: input.content,
            extra: {},
            // The same key space as temp_id, apart from it.
            clientKey: idempotencyKey === null ? null : `idempotency-key:${idempotencyKey}`,
          },
          {},
        );
      } catch (err) {
        // As the WebSocket send answers it (gateway/ops/send.ts): unavailable, with the reason.
        if (!idsExhausted(err)) throw err;
        logger.error({ err }, 'message ids are exhausted (2^53 − 1): no message can be stored');
        throw new ApiError('unavailable', 'message ids exhausted');
      }
      if (!stored) throw new ApiError('Forbidden: not a member', 'user_id is not an active member of this room');
      return { status: 201, body: { message: stored.message } };
    }),
  ];
}
