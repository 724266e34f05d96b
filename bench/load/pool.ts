// The load generator's parent side: forks several client processes (load/client.ts),
// spreads the sockets over them, runs phases and merges their reports.
import { fork, type ChildProcess } from 'node:child_process';
import * as hdr from 'hdr-histogram-js';
import type { FromClient, PhaseReport, PhaseSpec, SocketSpec, ToClient, WriterSpec } from './messages';
import type { OurClient, System } from './wire';

export interface Placement {
  client: number;
  index: number;
}

export interface MergedReport {
  histogram: hdr.Histogram;
  deliveredInWindow: number;
  sentInWindow: number;
  sentTotal: number;
  sendErrors: number;
  closedSockets: number;
  publishedByRoom: Record<string, number>;
}

/** A writer as the scenario sees it: which of all the sockets paces or sends it. */
export type PoolWriter = Omit<WriterSpec, 'socketIndex'> & { socket: number };

class Client {
  private waiters: Array<(message: FromClient) => void> = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.on('message', (message: FromClient) => {
      if (message.type === 'error') process.stderr.write(`load client ${child.pid}: ${message.message}\n`);
      this.waiters.shift()?.(message);
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  request(message: ToClient, timeoutMs: number): Promise<FromClient> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load client ${this.child.pid} did not answer ${message.type} in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((reply) => {
        clearTimeout(timer);
        if (reply.type === 'error') reject(new Error(reply.message));
        else resolve(reply);
      });
      this.child.send(message);
    });
  }
}

export class LoadPool {
  private placements: Placement[] = [];

  private constructor(private readonly clients: Client[]) {}

  static start(processes: number): LoadPool {
    const clients = Array.from(
      { length: processes },
      () => new Client(fork('bench/load/client.ts', [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })),
    );
    return new LoadPool(clients);
  }

  get pids(): number[] {
    return this.clients.map((c) => c.child.pid ?? -1);
  }

  /** Opens every socket (auth + join), spread round-robin over the client processes. */
  /** `localAddresses`: client process i connects from localAddresses[i] (the connections bench, past the 64k port limit). */
  async connect(
    system: System,
    port: number,
    redisUrl: string,
    pubsubMode: 'global' | 'perconv',
    sockets: SocketSpec[],
    ourClient: OurClient = 'frames',
    localAddresses: readonly string[] = [],
  ): Promise<void> {
    const shares: SocketSpec[][] = this.clients.map(() => []);
    this.placements = sockets.map((spec, i) => {
      const client = i % this.clients.length;
      shares[client]!.push(spec);
      return { client, index: shares[client]!.length - 1 };
    });
    const replies = await Promise.all(
      this.clients.map((c, i) =>
        c.request(
          {
            type: 'connect',
            system,
            ourClient,
            port,
            redisUrl,
            pubsubMode,
            sockets: shares[i]!,
            concurrency: 64,
            ...(localAddresses[i] ? { localAddress: localAddresses[i] } : {}),
          },
          600_000,
        ),
      ),
    );
    const failed = replies.reduce((n, r) => n + (r.type === 'connected' ? r.failed : 0), 0);
    if (failed > 0) {
      const first = replies.find((r) => r.type === 'connected' && r.firstError);
      throw new Error(`${failed} of ${sockets.length} sockets failed to connect: ${first && 'firstError' in first ? first.firstError : '?'}`);
    }
  }

  async runPhase(phase: Omit<PhaseSpec, 'writers'>, writers: PoolWriter[]): Promise<MergedReport> {
    const perClient: WriterSpec[][] = this.clients.map(() => []);
    for (const { socket, ...writer } of writers) {
      const placement = this.placements[socket]!;
      perClient[placement.client]!.push({ ...writer, socketIndex: placement.index });
    }
    const timeoutMs = phase.measureEndMs + phase.drainMs - Date.now() + 30_000;
    const reports = (await Promise.all(
      this.clients.map((c, i) => c.request({ type: 'phase', phase: { ...phase, writers: perClient[i]! } }, timeoutMs)),
    )) as PhaseReport[];
    const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
    for (const report of reports) histogram.add(hdr.decodeFromCompressedBase64(report.histogram));
    const sum = (key: keyof Omit<PhaseReport, 'type' | 'phaseId' | 'histogram' | 'publishedByRoom'>) => reports.reduce((n, r) => n + r[key], 0);
    return {
      histogram,
      deliveredInWindow: sum('deliveredInWindow'),
      sentInWindow: sum('sentInWindow'),
      sentTotal: sum('sentTotal'),
      sendErrors: sum('sendErrors'),
      closedSockets: sum('closedSockets'),
      publishedByRoom: Object.assign({}, ...reports.map((r) => r.publishedByRoom)),
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.clients.map(async (c) => {
        if (c.child.exitCode === null) c.child.send({ type: 'close' } satisfies ToClient);
        const timer = setTimeout(() => c.child.kill('SIGKILL'), 5000);
        await c.exited;
        clearTimeout(timer);
      }),
    );
  }
}
