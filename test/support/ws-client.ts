// A real WebSocket client for tests: collects every frame and waits for the ones asked for.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export type Frame = Record<string, any>;

export class TestClient {
  readonly frames: Frame[] = [];
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  closed: Promise<{ code: number; reason: string }>;
  private nextRequestId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const frame = JSON.parse(isBinary ? '{}' : data.toString()) as Frame;
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => (w.match(frame) ? (w.resolve(frame), false) : true));
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static connect(port: number): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  /** Waits for the first frame, already received or still to come, that matches. */
  waitFor(match: (f: Frame) => boolean, timeoutMs = 5000, what = 'a matching frame'): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.slice(-5))}`)), timeoutMs);
      this.waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  /** Sends a request tagged with a fresh request_id and resolves with its reply. */
  async request(body: Frame, timeoutMs = 5000): Promise<Frame> {
    const request_id = `r${this.nextRequestId++}`;
    this.ws.send(JSON.stringify({ ...body, request_id }));
    return this.waitFor((f) => f.request_id === request_id, timeoutMs, `the reply to ${body.op}`);
  }

  events(roomId?: string): Frame[] {
    return this.frames.filter((f) => f.op === 'event' && (!roomId || f.roomId === roomId));
  }

  async waitForEvents(count: number, roomId?: string, timeoutMs = 5000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events(roomId).length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} events, got ${this.events(roomId).length}`);
      await sleep(10);
    }
    return this.events(roomId);
  }

  async login(userId: string, roomId?: string): Promise<void> {
    const auth = await this.request({ op: 'auth', token: userId });
    if (!auth.success) throw new Error(`auth failed: ${JSON.stringify(auth)}`);
    if (roomId) {
      const join = await this.request({ op: 'join', room_id: roomId });
      if (!join.success) throw new Error(`join failed: ${JSON.stringify(join)}`);
    }
  }

  close(): void {
    this.ws.close();
  }
}
