// The HTTP API described as OpenAPI 3.1, served at GET /v1/openapi.json. test/openapi.test.ts
// checks that the routes and this document list the same operations and that each answers
// with a status written here.

const error = { $ref: '#/components/schemas/Error' };
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [String(s), { description: ERROR_TEXT[s] ?? 'error', ...json(error) }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'invalid_request (detail names the field)',
  401: 'Unauthorized',
  403: 'Forbidden: not a member / Forbidden: not allowed',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};
const common = [401, 429, 503];
const uuid = { type: 'string', format: 'uuid' };
const roomId = { name: 'room_id', in: 'path', required: true, schema: uuid };
const userId = { name: 'user_id', in: 'path', required: true, schema: uuid };
const limit = (max: number) => ({ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: max, default: 50 } });
const body = (schema: unknown, required = true) => ({ required, ...json(schema) });
const ok = (status: number, description: string, schema?: unknown) => ({ [String(status)]: { description, ...(schema ? json(schema) : {}) } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const server = [{ serverKey: [] }];
const anyCaller = [{ serverKey: [] }, { userToken: [] }];

export const openApiDocument = {
  openapi: '3.1.0',
  info: { title: 'ArcYou realtime chat API', version: '1', description: "HTTP on the gateway's port. The WebSocket protocol is described in the README." },
  components: {
    securitySchemes: {
      serverKey: { type: 'http', scheme: 'bearer', description: "A key from SERVER_API_KEYS (the application's backend)." },
      userToken: { type: 'http', scheme: 'bearer', description: 'The WebSocket token: a user UUID in development, else an RS256 JWT.' },
    },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' }, detail: { type: 'string' } } },
      Role: { type: 'string', enum: ['owner', 'manager', 'participant'] },
      Room: {
        type: 'object',
        required: ['id', 'name', 'description', 'last_seq', 'created_at', 'updated_at'],
        properties: {
          id: uuid,
          name: { type: 'string' },
          description: { type: ['string', 'null'] },
          last_seq: { type: 'integer' },
          created_at: { type: 'string', format: 'date-time' },
          updated_at: { type: ['string', 'null'], format: 'date-time' },
        },
      },
      Member: {
        type: 'object',
        required: ['user_id', 'role', 'last_read_message_id', 'created_at'],
        properties: {
          user_id: uuid,
          role: ref('Role'),
          last_read_message_id: { type: ['integer', 'null'] },
          created_at: { type: 'string', format: 'date-time' },
        },
      },
      Message: {
        type: 'object',
        required: ['id', 'seq', 'user_id', 'type', 'content', 'created_at'],
        properties: {
          id: { type: 'integer' },
          seq: { type: 'integer' },
          user_id: uuid,
          type: { type: 'string', enum: ['text', 'image', 'file', 'system'] },
          reply_to_message_id: { type: ['integer', 'null'] },
          content: { type: 'object' },
          created_at: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
  paths: {
    '/v1/rooms': {
      post: {
        summary: 'Create a room with its first members',
        security: server,
        requestBody: body({
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            id: uuid,
            name: { type: 'string', minLength: 1, maxLength: 200 },
            description: { type: ['string', 'null'], maxLength: 2000 },
            members: { type: 'array', maxItems: 1000, items: { type: 'object', required: ['user_id'], properties: { user_id: uuid, role: ref('Role') } } },
          },
        }),
        responses: { ...ok(201, 'created', { type: 'object', properties: { room: ref('Room') } }), ...errors(400, 403, 409, 413, 415, ...common) },
      },
    },
    '/v1/rooms/{room_id}': {
      parameters: [roomId],
      get: {
        summary: 'A room and its member count',
        security: server,
        responses: {
          ...ok(200, 'the room', { type: 'object', properties: { room: ref('Room'), member_count: { type: 'integer' } } }),
          ...errors(400, 403, 404, ...common),
        },
      },
      patch: {
        summary: 'Rename or re-describe a room (event room.updated)',
        security: server,
        requestBody: body({
          type: 'object',
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 200 }, description: { type: ['string', 'null'], maxLength: 2000 } },
        }),
        responses: { ...ok(200, 'the room', { type: 'object', properties: { room: ref('Room') } }), ...errors(400, 403, 404, 413, 415, ...common) },
      },
    },
    '/v1/rooms/{room_id}/members': {
      parameters: [roomId],
      get: {
        summary: 'Active members, by cursor',
        security: server,
        parameters: [limit(100), { name: 'cursor', in: 'query', schema: { type: 'string' } }],
        responses: {
          ...ok(200, 'a page', { type: 'object', properties: { members: { type: 'array', items: ref('Member') }, next_cursor: { type: ['string', 'null'] } } }),
          ...errors(400, 403, 404, ...common),
        },
      },
    },
    '/v1/rooms/{room_id}/members/{user_id}': {
      parameters: [roomId, userId],
      put: {
        summary: 'Add, restore or change the role of a member (events member.added / member.updated)',
        security: server,
        requestBody: body({ type: 'object', additionalProperties: false, properties: { role: ref('Role') } }, false),
        responses: {
          ...ok(201, 'added or restored', { type: 'object', properties: { member: ref('Member') } }),
          ...ok(200, 'changed or unchanged', { type: 'object', properties: { member: ref('Member') } }),
          ...errors(400, 403, 404, 413, 415, ...common),
        },
      },
      delete: {
        summary: 'Remove a member (event member.removed; its sockets leave the room)',
        security: server,
        responses: { ...ok(204, 'removed'), ...errors(400, 403, 404, ...common) },
      },
    },
    '/v1/rooms/{room_id}/messages': {
      parameters: [roomId],
      get: {
        summary: 'History by seq, oldest first',
        security: anyCaller,
        parameters: [
          limit(100),
          { name: 'after_seq', in: 'query', schema: { type: 'integer', minimum: 0 } },
          { name: 'before_seq', in: 'query', schema: { type: 'integer', minimum: 0 } },
        ],
        responses: {
          ...ok(200, 'a page', {
            type: 'object',
            properties: {
              messages: { type: 'array', items: ref('Message') },
              has_more: { type: 'boolean' },
              from_seq: { type: ['integer', 'null'] },
              to_seq: { type: ['integer', 'null'] },
            },
          }),
          ...errors(400, 403, 404, ...common),
        },
      },
      post: {
        summary: 'A message from a member, written by the backend (same path as a WebSocket send)',
        security: server,
        parameters: [{ name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 128 } }],
        requestBody: body({
          type: 'object',
          required: ['user_id', 'content'],
          additionalProperties: false,
          properties: { user_id: uuid, content: { type: 'object' }, type: { type: 'string', enum: ['text', 'system'] } },
        }),
        responses: {
          ...ok(201, 'stored (or, for a repeated Idempotency-Key, the first result)', { type: 'object', properties: { message: ref('Message') } }),
          ...errors(400, 403, 413, 415, ...common),
        },
      },
    },
    '/v1/rooms/{room_id}/messages/search': {
      parameters: [roomId],
      get: {
        summary: 'Text messages containing q (case-insensitive, any script), newest first',
        security: anyCaller,
        parameters: [
          { name: 'q', in: 'query', required: true, schema: { type: 'string', minLength: 1, maxLength: 200 } },
          { ...limit(100), schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
          {
            name: 'before_seq',
            in: 'query',
            schema: { type: 'integer', minimum: 0 },
            description: 'older matches: the seq of the last message of the previous page',
          },
        ],
        responses: {
          ...ok(200, 'matches', { type: 'object', properties: { messages: { type: 'array', items: ref('Message') }, has_more: { type: 'boolean' } } }),
          ...errors(400, 403, 404, ...common),
        },
      },
    },
    '/v1/me/rooms': {
      get: {
        summary: 'My rooms, most recent activity first',
        security: [{ userToken: [] }],
        responses: {
          ...ok(200, 'rooms', {
            type: 'object',
            properties: {
              rooms: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    room: ref('Room'),
                    role: ref('Role'),
                    last_read_message_id: { type: ['integer', 'null'] },
                    unread_count: { type: 'integer', maximum: 1000 },
                    last_message: { oneOf: [ref('Message'), { type: 'null' }] },
                  },
                },
              },
            },
          }),
          ...errors(403, ...common),
        },
      },
    },
  },
} as const;

/** Every operation in the document, as [METHOD, path pattern with :params]. */
export function documentedOperations(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [path, item] of Object.entries(openApiDocument.paths)) {
    for (const method of Object.keys(item)) {
      if (method === 'parameters') continue;
      out.push([method.toUpperCase(), path.replace(/\{(\w+)\}/g, ':$1')]);
    }
  }
  return out;
}
