// The WebSocket protocol's error strings (README: WebSocket protocol): the `error` of a reply
// `{op, success:false, error, detail?}`. Clients switch on them, so they never change; a new
// one is added here and to the README's list (errors.test.ts holds the two equal).

export const ProtocolError = {
  /** A bad token, or any op before auth. */
  unauthorized: 'Unauthorized',
  notAMember: 'Forbidden: not a member',
  /** send/ack/edit/delete/typing on a room this socket did not join. */
  notJoined: 'Forbidden: not joined',
  /** edit or delete of a message that is not the caller's to change. */
  notAllowed: 'Forbidden: not allowed',
  /** No such message in that room, or deleted. */
  notFound: 'not_found',
  rateLimited: 'rate_limited',
  invalidJson: 'invalid_json',
  /** With a `detail` naming the field. */
  invalidRequest: 'invalid_request',
  unknownOp: 'unknown_op',
  roomRequired: 'room_id required',
  binaryNotSupported: 'binary_not_supported',
  alreadyAuthenticated: 'already_authenticated',
  /** PostgreSQL or the bus unreachable, the gateway draining, or message ids exhausted. */
  unavailable: 'unavailable',
} as const;

export type ProtocolError = (typeof ProtocolError)[keyof typeof ProtocolError];
