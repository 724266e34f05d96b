// Request bodies and parameters of the HTTP API, validated with valibot; a failure is
// `invalid_request` naming the first field at fault.
import * as v from 'valibot';
import { ApiError } from './errors';

const Uuid = v.pipe(v.string(), v.uuid('must be a UUID'));
const Role = v.picklist(['owner', 'manager', 'participant'], 'must be owner, manager or participant');
const Name = v.pipe(v.string('must be a string'), v.trim(), v.minLength(1, 'must not be empty'), v.maxLength(200, 'at most 200 characters'));
const Description = v.nullable(v.pipe(v.string('must be a string or null'), v.maxLength(2000, 'at most 2,000 characters')));

export const CreateRoomBody = v.strictObject({
  id: v.optional(Uuid),
  name: Name,
  description: v.optional(Description),
  members: v.optional(
    v.pipe(
      v.array(v.strictObject({ user_id: Uuid, role: v.optional(Role) }), 'must be an array'),
      v.maxLength(1000, 'at most 1,000 members at creation'),
      v.check((list) => new Set(list.map((m) => m.user_id.toLowerCase())).size === list.length, 'lists a user twice'),
    ),
  ),
});

export const UpdateRoomBody = v.pipe(
  v.strictObject({ name: v.optional(Name), description: v.optional(Description) }),
  v.check((body) => body.name !== undefined || body.description !== undefined, 'give name or description'),
);

export const PutMemberBody = v.strictObject({ role: v.optional(Role) });

/** The body parsed by `schema`, or `invalid_request` with the first issue. */
export function parseBody<S extends v.GenericSchema>(schema: S, body: unknown): v.InferOutput<S> {
  const result = v.safeParse(schema, body);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const path = issue.path?.map((p) => p.key).join('.');
  throw new ApiError('invalid_request', path ? `${path}: ${issue.message}` : issue.message);
}

export function uuidParam(name: string, value: string): string {
  if (!v.is(Uuid, value)) throw new ApiError('invalid_request', `${name} must be a UUID`);
  return value.toLowerCase();
}

/** `limit` from the query: 1–max, `fallback` when absent. */
export function limitParam(query: URLSearchParams, fallback: number, max: number): number {
  const raw = query.get('limit');
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > max) throw new ApiError('invalid_request', `limit must be an integer from 1 to ${max}`);
  return n;
}
