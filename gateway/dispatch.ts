// One incoming frame: rate limit, parse, auth gate, then the op, queued behind the
// connection's earlier ops. Every failure becomes an error reply; nothing escapes.
import { ProtocolError } from '../shared/protocol/errors';
import { parseFrame, peekFrame, type ParsedFrame, type RequestIds } from './frames';
import { ack } from './ops/ack';
import { auth } from './ops/auth';
import { edit, remove } from './ops/change';
import { typing } from './ops/ephemeral';
import { withIds, type OpContext, type Reply } from './ops/context';
import { join } from './ops/join';
import { send } from './ops/send';
import { takeToken } from './rate-limit';
import type { Socket } from './session';

export interface DispatchContext extends OpContext {
  rlCapacity: number;
  rlRefillMs: number;
  /** True while the gateway drains: new ops are refused. */
  draining(): boolean;
  onRateLimited(): void;
  onOpDone(op: string, result: string): void;
  /** Sends a frame with the others for `ws` at the end of this turn of the event loop (send replies); `send` writes them first. */
  sendLater(ws: Socket, frame: string): void;
}

function reply(ctx: DispatchContext, ws: Socket, body: Reply, ids: RequestIds) {
  const frame = JSON.stringify(withIds(body, ids));
  // A commit answers many sends at once: their replies go out together, per socket.
  if (body.op === 'send') ctx.sendLater(ws, frame);
  else ctx.send(ws, [frame]);
}

async function runOp(ctx: DispatchContext, ws: Socket, frame: Extract<ParsedFrame, { ok: true }>): Promise<Reply | null> {
  const session = ws.getUserData();
  const { request, ids } = frame;
  switch (request.op) {
    case 'auth':
      return auth(ctx, ws, session, request.token);
    case 'join':
      return join(ctx, ws, session, request.roomId, request.afterSeq, ids);
    case 'send':
      return send(ctx, session, request, ids.temp_id);
    case 'ack':
      return ack(ctx, ws, session, request.roomId, request.lastReadMessageId);
    case 'edit':
      return edit(ctx, session, request.roomId, request.messageId, request.content);
    case 'delete':
      return remove(ctx, session, request.roomId, request.messageId);
    case 'typing':
      return typing(ctx, ws, session, request.roomId);
  }
}

export function handleFrame(ctx: DispatchContext, ws: Socket, data: ArrayBuffer, isBinary: boolean): void {
  const session = ws.getUserData();
  // uWS neuters `data` when this callback returns: copy it out first.
  const text = isBinary ? '' : Buffer.from(data).toString('utf8');

  if (!takeToken(session.bucket, ctx.rlCapacity, ctx.rlRefillMs, Date.now())) {
    ctx.onRateLimited();
    const { op, ids } = isBinary ? { op: 'error', ids: {} } : peekFrame(text);
    reply(ctx, ws, { op, success: false, error: ProtocolError.rateLimited }, ids);
    return;
  }
  if (isBinary) {
    reply(ctx, ws, { op: 'error', success: false, error: ProtocolError.binaryNotSupported }, {});
    return;
  }
  const frame = parseFrame(text);
  if (!frame.ok) {
    ctx.onOpDone(frame.op, frame.error);
    const body: Reply = { op: frame.op, success: false, error: frame.error };
    if (frame.detail) body.detail = frame.detail;
    reply(ctx, ws, body, frame.ids);
    return;
  }
  const op = frame.request.op;
  if (ctx.draining()) {
    reply(ctx, ws, { op, success: false, error: ProtocolError.unavailable, detail: 'server is shutting down' }, frame.ids);
    return;
  }

  const execute = async (): Promise<Reply | null> => {
    // Checked in queue order, so an op pipelined right behind its auth runs once auth is done.
    if (op !== 'auth' && !session.userId) return { op, success: false, error: ProtocolError.unauthorized };
    try {
      return await runOp(ctx, ws, frame);
    } catch (err) {
      ctx.logger.error({ op, err }, 'op failed');
      return { op, success: false, error: ProtocolError.unavailable };
    }
  };
  // Ops start in arrival order and their replies go out in it. A send does not hold up the
  // next op's start when that is a send too, so a client's consecutive sends are written
  // together (group commit); any other op starts once everything before it is done.
  session.queue = session.queue.then(async () => {
    if (session.closed) return;
    if (op !== 'send') await session.replies;
    const result = execute();
    session.replies = session.replies.then(async () => {
      const body = await result;
      ctx.onOpDone(op, body ? (body.success ? 'ok' : String(body.error)) : 'ok');
      if (body) reply(ctx, ws, body, frame.ids);
    });
    if (op !== 'send') await result;
  });
}
