// One load-generator process (forked by load/pool.ts): opens its share of the sockets,
// then runs phases on command — writers sending on a timetable or at saturation, every
// socket recording end-to-end latency into an HdrHistogram — and reports each phase.
import { setTimeout as sleep } from 'node:timers/promises';
import { Emitter } from '@socket.io/redis-emitter';
import * as hdr from 'hdr-histogram-js';
import { Cluster, Redis } from 'ioredis';
import { channelFor } from '../../shared/bus/channels';
import { serializeMessageEvent } from '../../shared/protocol/events';
import { parseClusterUrl } from '../../shared/redis-cluster';
import type { FromClient, PhaseSpec, SocketSpec, ToClient, WriterSpec } from './messages';
import { dueCount, intendedAt, type Timetable } from './timetable';
import { connect, type BenchSocket, type Stamp, type System } from './wire';

const epochNow = () => performance.timeOrigin + performance.now();
const reply = (message: FromClient) => process.send!(message);

interface Setup {
  system: System;
  redisUrl: string;
  pubsubMode: 'global' | 'perconv';
  specs: SocketSpec[];
  sockets: (BenchSocket | undefined)[];
}

let setup: Setup | null = null;
let redis: Redis | Cluster | null = null;
/** Publishes a serialised event on our bus: PUBLISH on one Redis, SPUBLISH (sharded) on a cluster. */
let publishEvent: (channel: string, frame: string) => Promise<unknown> = async () => {};
let emitter: Emitter | null = null;

interface WriterState {
  spec: WriterSpec;
  seq: number;
  ownReceived: number;
  sentInWindow: number;
  timetable: Timetable | null;
  stopped: boolean;
}

// The running phase: what onEvent records into.
let phase: PhaseSpec | null = null;
const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
let deliveredInWindow = 0;
const writersById = new Map<number, WriterState>();
const probeOf = new Map<number, number>(); // writer id → socket index whose receipts pace it

function onEvent(socketIndex: number, content: Stamp) {
  const now = epochNow();
  if (!phase) return;
  if (now >= phase.measureStartMs && now < phase.measureEndMs) deliveredInWindow++;
  if (content.t >= phase.measureStartMs && content.t < phase.measureEndMs) {
    histogram.recordValue(Math.max(1, Math.round((now - content.t) * 1000)));
  }
  const writer = writersById.get(content.w);
  if (writer && probeOf.get(content.w) === socketIndex) {
    writer.ownReceived++;
    if (writer.spec.rate === null) fillWindow(writer);
  }
}

function write(writer: WriterState, t: number) {
  const { spec } = writer;
  const content: Stamp = { t, w: spec.writer, s: writer.seq++ };
  if (phase && t >= phase.measureStartMs && t < phase.measureEndMs) writer.sentInWindow++;
  if (spec.via === 'full') {
    setup!.sockets[spec.socketIndex]?.send(spec.roomId, content);
    return;
  }
  const message = {
    id: spec.writer * 10_000_000 + writer.seq,
    seq: spec.seqAfter + writer.seq,
    user_id: '00000000-0000-4000-8000-000000000000',
    content,
    created_at: new Date(t).toISOString(),
  };
  if (setup!.system === 'ours') {
    publishEvent(channelFor(setup!.pubsubMode, spec.roomId), serializeMessageEvent(spec.roomId, message, 'live')).catch(() => {});
  } else {
    emitter!
      .to(spec.roomId)
      .emit('event', { op: 'event', type: 'message.created', roomId: spec.roomId, message, timestamp: new Date().toISOString(), source: 'live' });
  }
}

function fillWindow(writer: WriterState) {
  if (writer.stopped || !phase) return;
  const now = epochNow();
  if (now >= phase.measureEndMs) {
    writer.stopped = true;
    return;
  }
  while (writer.seq - writer.ownReceived < writer.spec.window) write(writer, epochNow());
}

function tick() {
  if (!phase) return;
  const now = epochNow();
  let active = false;
  for (const writer of writersById.values()) {
    if (!writer.timetable || writer.stopped) continue;
    const due = dueCount(writer.timetable, now);
    while (writer.seq < due) write(writer, intendedAt(writer.timetable, writer.seq));
    if (now >= writer.timetable.endMs) writer.stopped = true;
    else active = true;
  }
  if (active) setTimeout(tick, 1);
}

async function runPhase(spec: PhaseSpec) {
  phase = spec;
  histogram.reset();
  deliveredInWindow = 0;
  writersById.clear();
  probeOf.clear();
  const errorsBefore = setup!.sockets.reduce((n, s) => n + (s?.sendErrors ?? 0), 0);
  for (const w of spec.writers) {
    const timetable = w.rate === null ? null : { startMs: spec.sendStartMs + Math.random() * (1000 / w.rate), rate: w.rate, endMs: spec.measureEndMs };
    writersById.set(w.writer, { spec: w, seq: 0, ownReceived: 0, sentInWindow: 0, timetable, stopped: false });
    probeOf.set(w.writer, w.socketIndex);
  }
  const startIn = Math.max(0, spec.sendStartMs - epochNow());
  setTimeout(() => {
    tick();
    for (const writer of writersById.values()) if (writer.spec.rate === null) fillWindow(writer);
  }, startIn);
  await sleep(spec.measureEndMs + spec.drainMs - epochNow());
  const writers = [...writersById.values()];
  for (const w of writers) w.stopped = true;
  reply({
    type: 'report',
    phaseId: spec.id,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
    deliveredInWindow,
    sentInWindow: writers.reduce((n, w) => n + w.sentInWindow, 0),
    sentTotal: writers.reduce((n, w) => n + w.seq, 0),
    publishedByRoom: Object.fromEntries(writers.filter((w) => w.spec.via === 'publish').map((w) => [w.spec.roomId, w.seq])),
    sendErrors: setup!.sockets.reduce((n, s) => n + (s?.sendErrors ?? 0), 0) - errorsBefore,
    closedSockets: setup!.sockets.filter((s) => s?.closedUnexpectedly).length,
  });
  phase = null;
}

async function connectAll(message: Extract<ToClient, { type: 'connect' }>) {
  const sockets: (BenchSocket | undefined)[] = new Array(message.sockets.length);
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const workers = Array.from({ length: Math.min(message.concurrency, message.sockets.length) }, async () => {
    while (next < message.sockets.length) {
      const i = next++;
      const spec = message.sockets[i]!;
      try {
        sockets[i] = await connect(
          message.system,
          message.port,
          spec.userId,
          spec.roomId,
          (content) => onEvent(i, content),
          message.ourClient,
          message.localAddress,
        );
      } catch (err) {
        failed++;
        firstError ??= err instanceof Error ? err.message : String(err);
      }
    }
  });
  await Promise.all(workers);
  setup = { system: message.system, redisUrl: message.redisUrl, pubsubMode: message.pubsubMode, specs: message.sockets, sockets };
  const cluster = parseClusterUrl(message.redisUrl);
  if (cluster) {
    const client = new Cluster(cluster.seeds, {
      enableAutoPipelining: true,
      redisOptions: { connectionName: 'arcyou-bench-publisher', ...(cluster.password ? { password: cluster.password } : {}) },
    });
    publishEvent = (channel, frame) => client.spublish(channel, frame);
    redis = client;
  } else {
    const client = new Redis(message.redisUrl, { enableAutoPipelining: true, connectionName: 'arcyou-bench-publisher' });
    publishEvent = (channel, frame) => client.publish(channel, frame);
    if (message.system === 'socketio') emitter = new Emitter(client);
    redis = client;
  }
  reply({ type: 'connected', count: message.sockets.length - failed, failed, firstError });
}

process.on('message', (message: ToClient) => {
  const run = async () => {
    switch (message.type) {
      case 'connect':
        return connectAll(message);
      case 'phase':
        return runPhase(message.phase);
      case 'close':
        for (const socket of setup?.sockets ?? []) socket?.close();
        redis?.disconnect();
        setTimeout(() => process.exit(0), 200);
    }
  };
  run().catch((err) => reply({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});
