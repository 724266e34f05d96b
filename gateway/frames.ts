// Client → server frames (README: WebSocket protocol): parse and validate one text frame into a
// typed request, or into an error reply naming what is wrong. Pure: no I/O.
import * as v from 'valibot';
import { ProtocolError } from '../shared/protocol/errors';

export const MAX_CONTENT_DEPTH = 16;

export type ClientId = string | number;
export interface RequestIds {
  temp_id?: ClientId;
  request_id?: ClientId;
}

export type Request =
  | { op: 'auth'; token: string }
  | { op: 'join'; roomId: string; afterSeq: number | null }
  | { op: 'send'; roomId: string; content: Record<string, unknown>; type: 'text' | 'image' | 'file'; replyTo: number | null }
  | { op: 'ack'; roomId: string; lastReadMessageId: number }
  | { op: 'edit'; roomId: string; messageId: number; content: Record<string, unknown> }
  | { op: 'delete'; roomId: string; messageId: number }
  | { op: 'typing'; roomId: string };

export type ParsedFrame = { ok: true; request: Request; ids: RequestIds } | { ok: false; op: string; error: ProtocolError; detail?: string; ids: RequestIds };

function depthWithin(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (limit === 0) return false;
  for (const child of Object.values(value)) if (!depthWithin(child, limit - 1)) return false;
  return true;
}

// PostgreSQL's jsonb cannot hold U+0000 or an unpaired UTF-16 surrogate (both arrive as
// JSON escapes): refuse them here, as bad input, instead of failing the insert later.
// eslint-disable-next-line no-control-regex -- U+0000 is what this looks for
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const storableText = (text: string) => !UNSTORABLE.test(text);

/** Stops at the depth limit: deeper content is refused by the depth check (valibot runs both). */
function storableJson(value: unknown, limit = MAX_CONTENT_DEPTH): boolean {
  if (typeof value === 'string') return storableText(value);
  if (value === null || typeof value !== 'object' || limit === 0) return true;
  for (const [key, child] of Object.entries(value)) if (!storableText(key) || !storableJson(child, limit - 1)) return false;
  return true;
}

// Lower case, as PostgreSQL prints a uuid: the socket's rooms, topics and bus channels are keyed by this string.
const uuid = v.pipe(v.string('must be a string'), v.uuid('must be a UUID'), v.toLowerCase());
const clientId = v.optional(
  v.union(
    [v.pipe(v.string(), v.maxLength(128), v.check(storableText)), v.pipe(v.number(), v.safeInteger())],
    'must be a string of at most 128 characters (no U+0000 or unpaired surrogates) or an integer',
  ),
);
/** A message's content, whoever sends it (a WebSocket send, the HTTP API). */
export const messageContent = v.pipe(
  v.custom<Record<string, unknown>>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'must be a JSON object'),
  v.check((value) => depthWithin(value, MAX_CONTENT_DEPTH), `must not be nested deeper than ${MAX_CONTENT_DEPTH} levels`),
  v.check((value) => storableJson(value), 'must not contain U+0000 or unpaired surrogates'),
);
/** The content of an image or file message: where it is, and what the client shows of it. */
const fileContent = v.looseObject({
  url: v.pipe(v.string('must be a string'), v.maxLength(2048, 'at most 2,048 characters'), v.regex(/^https?:\/\/[^\s]+$/i, 'must be an http(s) URL')),
  name: v.optional(v.pipe(v.string('must be a string'), v.maxLength(255, 'at most 255 characters'))),
  mime: v.optional(v.pipe(v.string('must be a string'), v.regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a MIME type'))),
  size: v.optional(v.pipe(v.number('must be a number'), v.safeInteger('must be an integer'), v.minValue(0, 'must not be negative'))),
});
// Ids and seqs stay below 2^53 (the database's sequences stop there), so they are exact as numbers.
const position = (what: string) =>
  v.union(
    [v.pipe(v.number(), v.safeInteger(), v.minValue(0)), v.pipe(v.string(), v.regex(/^\d{1,16}$/), v.transform(Number), v.safeInteger())],
    `must be ${what}`,
  );
const messageId = position('a non-negative integer');
const common = { temp_id: clientId, request_id: clientId };
const roomRef = { room_id: v.optional(uuid), conversation_id: v.optional(uuid) };

const schemas = {
  auth: v.object({
    op: v.literal('auth'),
    token: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'), v.maxLength(16_384, 'is too long')),
    ...common,
  }),
  join: v.object({ op: v.literal('join'), ...roomRef, after_seq: v.optional(position('a non-negative integer (a seq)')), ...common }),
  send: v.object({
    op: v.literal('send'),
    ...roomRef,
    content: v.optional(messageContent),
    body: v.optional(messageContent),
    type: v.optional(v.picklist(['text', 'image', 'file'], 'must be text, image or file')),
    reply_to_message_id: v.optional(messageId),
    ...common,
  }),
  ack: v.object({ op: v.literal('ack'), ...roomRef, last_read_message_id: messageId, ...common }),
  edit: v.object({ op: v.literal('edit'), ...roomRef, message_id: messageId, content: messageContent, ...common }),
  delete: v.object({ op: v.literal('delete'), ...roomRef, message_id: messageId, ...common }),
  typing: v.object({ op: v.literal('typing'), ...roomRef, ...common }),
};

type Op = keyof typeof schemas;
const isOp = (op: unknown): op is Op => typeof op === 'string' && Object.hasOwn(schemas, op);

/** temp_id / request_id, when well-formed, so that even an error reply can echo them. */
function idsOf(frame: Record<string, unknown>): RequestIds {
  const ids: RequestIds = {};
  for (const key of ['temp_id', 'request_id'] as const) {
    const value = frame[key];
    if ((typeof value === 'string' && value.length <= 128) || Number.isSafeInteger(value)) ids[key] = value as ClientId;
  }
  return ids;
}

/**
 * The op and request ids of a frame without validating it: enough to address a refusal
 * (rate limit) to the right request, at the cost of one JSON.parse.
 */
export function peekFrame(text: string): { op: string; ids: RequestIds } {
  try {
    const frame: unknown = JSON.parse(text);
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) return { op: 'error', ids: {} };
    const record = frame as Record<string, unknown>;
    return { op: isOp(record.op) ? record.op : 'error', ids: idsOf(record) };
  } catch {
    return { op: 'error', ids: {} };
  }
}

export function parseFrame(text: string): ParsedFrame {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    return { ok: false, op: 'error', error: ProtocolError.invalidJson, ids: {} };
  }
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    return { ok: false, op: 'error', error: ProtocolError.invalidRequest, detail: 'frame must be a JSON object', ids: {} };
  }
  const record = frame as Record<string, unknown>;
  const ids = idsOf(record);
  if (!isOp(record.op)) {
    return {
      ok: false,
      op: 'error',
      error: ProtocolError.unknownOp,
      detail: typeof record.op === 'string' ? `unknown op ${JSON.stringify(record.op.slice(0, 32))}` : 'op must be a string',
      ids,
    };
  }
  const op = record.op;
  const result = v.safeParse(schemas[op], record);
  if (!result.success) {
    const issue = result.issues[0];
    const path = v.getDotPath(issue) ?? 'frame';
    return { ok: false, op, error: ProtocolError.invalidRequest, detail: `${path} ${issue.message}`, ids };
  }
  const data = result.output;
  const { temp_id, request_id } = data;
  const parsedIds: RequestIds = {};
  if (temp_id !== undefined) parsedIds.temp_id = temp_id;
  if (request_id !== undefined) parsedIds.request_id = request_id;
  if (data.op === 'auth') return { ok: true, request: { op: 'auth', token: data.token }, ids: parsedIds };

  // conversation_id is an alias: naming two different rooms is ambiguous, so it is refused.
  if (data.room_id && data.conversation_id && data.room_id !== data.conversation_id) {
    return { ok: false, op, error: ProtocolError.invalidRequest, detail: 'room_id and conversation_id name different rooms', ids: parsedIds };
  }
  const roomId = data.room_id ?? data.conversation_id;
  if (!roomId) return { ok: false, op, error: ProtocolError.roomRequired, ids: parsedIds };
  switch (data.op) {
    case 'join':
      return { ok: true, request: { op: 'join', roomId, afterSeq: data.after_seq ?? null }, ids: parsedIds };
    case 'send': {
      const body = data.content ?? data.body;
      if (!body) return { ok: false, op, error: ProtocolError.invalidRequest, detail: 'content required', ids: parsedIds };
      const type = data.type ?? 'text';
      if (type !== 'text') {
        const file = v.safeParse(fileContent, body);
        if (!file.success)
          return {
            ok: false,
            op,
            error: ProtocolError.invalidRequest,
            detail: `content.${v.getDotPath(file.issues[0]) ?? ''} ${file.issues[0].message}`.replace('content. ', 'content '),
            ids: parsedIds,
          };
      }
      return { ok: true, request: { op: 'send', roomId, content: body, type, replyTo: data.reply_to_message_id ?? null }, ids: parsedIds };
    }
    case 'ack':
      return { ok: true, request: { op: 'ack', roomId, lastReadMessageId: data.last_read_message_id }, ids: parsedIds };
    case 'edit':
      return { ok: true, request: { op: 'edit', roomId, messageId: data.message_id, content: data.content }, ids: parsedIds };
    case 'delete':
      return { ok: true, request: { op: 'delete', roomId, messageId: data.message_id }, ids: parsedIds };
    case 'typing':
      return { ok: true, request: { op: 'typing', roomId }, ids: parsedIds };
  }
}
