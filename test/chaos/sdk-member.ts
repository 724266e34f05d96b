// A member written as an application would write it: on the client SDK (client/), which
// picks a live gateway per connection attempt, reconnects, resumes, orders and de-duplicates
// by itself, and queues sends while offline. It is not removed by the membership churn.
// What it promises the application is checked at the end: the room's messages, each once,
// in seq order, none missing; every send it accepted stored exactly once.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { createChatClient, type ChatClient, type ChatRoom, type SocketConstructor } from '../../client';
import type { Random } from '../support/frame-fuzzer';
import type { StoredMessage } from './trace';

export interface SdkMemberOptions {
  label: string;
  userId: string;
  roomId: string;
  /** A random running gateway, or null when none is up. */
  pickGateway(): { port: number } | null;
  random: Random;
  sendIntervalMs: number;
}

export interface SdkFailure {
  kind: 'sdk';
  detail: string;
  roomId: string;
  member: string;
}

export class SdkMember {
  /** Seqs of the messages the application was given, in the order it got them. */
  readonly seen: number[] = [];
  readonly sends = { made: 0, resolved: 0, rejected: {} as Record<string, number> };
  private readonly chat: ChatClient;
  private readonly room: ChatRoom;
  private sending = false;
  private loop: Promise<void> = Promise.resolve();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(private readonly options: SdkMemberOptions) {
    // A gateway that is down right now: an address nothing listens on, so the attempt fails and backs off.
    const port = () => options.pickGateway()?.port ?? 1;
    this.chat = createChatClient({
      url: () => `ws://127.0.0.1:${port()}/`,
      apiUrl: () => `http://127.0.0.1:${port()}`,
      token: options.userId,
      WebSocket: WebSocket as unknown as SocketConstructor,
      reconnect: { baseMs: 100, maxMs: 1000 },
      maxQueuedSends: 1000,
    });
    this.room = this.chat.room(options.roomId);
    this.room.on('message', (message) => this.seen.push(message.seq));
  }

  get label(): string {
    return this.options.label;
  }

  start(): void {
    this.sending = true;
    this.loop = (async () => {
      while (this.sending) {
        await sleep(this.options.sendIntervalMs * (0.5 + this.options.random.next()));
        if (!this.sending) break;
        const n = ++this.sends.made;
        const send = this.room.send({ sdk: this.options.label, n }).then(
          () => void this.sends.resolved++,
          (err: { code?: string }) => void (this.sends.rejected[err.code ?? String(err)] = (this.sends.rejected[err.code ?? String(err)] ?? 0) + 1),
        );
        this.inFlight.add(send);
        void send.finally(() => this.inFlight.delete(send));
      }
    })();
  }

  /** Stops making sends and waits (bounded) for those made to be answered: offline ones are still queued. */
  async stopSending(timeoutMs: number): Promise<void> {
    this.sending = false;
    await this.loop;
    await Promise.race([Promise.all([...this.inFlight]), sleep(timeoutMs)]);
  }

  /** The application has the room up to `lastSeq`. */
  caughtUp(lastSeq: number): boolean {
    return (this.seen.at(-1) ?? 0) >= lastSeq;
  }

  check(stored: readonly StoredMessage[]): SdkFailure[] {
    const failures: SdkFailure[] = [];
    const fail = (detail: string) => failures.push({ kind: 'sdk', detail, roomId: this.options.roomId, member: this.options.label });
    const roomSeqs = stored
      .filter((m) => m.roomId === this.options.roomId)
      .map((m) => m.seq)
      .sort((a, b) => a - b);
    const out = this.seen.findIndex((seq, i) => i > 0 && seq <= this.seen[i - 1]!);
    if (out >= 0) fail(`the application got seq ${this.seen[out]} after seq ${this.seen[out - 1]} (a duplicate or out of order)`);
    const seen = new Set(this.seen);
    const missing = roomSeqs.filter((seq) => !seen.has(seq));
    if (missing.length)
      fail(
        `the application never got ${missing.length} of the room's ${roomSeqs.length} messages (seq ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''})`,
      );
    const extra = this.seen.filter((seq) => !roomSeqs.includes(seq));
    if (extra.length) fail(`the application got seqs that are not stored: ${extra.slice(0, 10).join(', ')}`);
    const copies = new Map<number, number>();
    for (const m of stored) {
      const content = m.content as { sdk?: unknown; n?: unknown };
      if (content?.sdk === this.options.label && typeof content.n === 'number') copies.set(content.n, (copies.get(content.n) ?? 0) + 1);
    }
    const twice = [...copies].filter(([, count]) => count > 1).map(([n]) => n);
    if (twice.length) fail(`sends stored more than once: ${twice.slice(0, 10).join(', ')}`);
    if (this.sends.resolved + Object.values(this.sends.rejected).reduce((a, b) => a + b, 0) < this.sends.made)
      fail(`${this.sends.made - this.sends.resolved} sends never answered after the drain`);
    if (Object.keys(this.sends.rejected).length) fail(`sends rejected: ${JSON.stringify(this.sends.rejected)}`);
    if (copies.size !== this.sends.resolved) fail(`${this.sends.resolved} sends resolved, ${copies.size} stored`);
    return failures;
  }

  close(): void {
    this.sending = false;
    this.chat.close();
  }
}
