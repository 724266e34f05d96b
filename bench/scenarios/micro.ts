// Micro-benchmarks (tinybench) of the gateway's and worker's pure hot paths. Each task
// runs its function INNER times per sample so that sub-microsecond calls are not lost
// in timer resolution. Each is paired with a plain-JSON reference measured in the same
// process (JSON.parse / JSON.stringify of the same text), whose cost ratio is what the
// perf gate compares: it does not move with the machine's speed.
import { Bench } from 'tinybench';
import { parseFrame } from '../../gateway/frames';
import { createTokenBucket, takeToken } from '../../gateway/rate-limit';
import { routeOf, serializeMessageEvent, type ChatMessage } from '../../shared/protocol/events';

const INNER = 1000;
const ROOM = '3f2b8c1e-4d5a-4e6f-9a7b-8c9d0e1f2a3b';
const USER = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const message: ChatMessage = {
  id: 123_456,
  seq: 4_321,
  user_id: USER,
  content: { text: 'hello, this is a typical chat message of moderate length' },
  created_at: '2026-01-01T00:00:00.000Z',
};
const sendFrame = JSON.stringify({ op: 'send', room_id: ROOM, content: message.content, temp_id: 'c-42' });
const authFrame = JSON.stringify({ op: 'auth', token: USER, request_id: 'r1' });
const eventFrame = serializeMessageEvent(ROOM, message, 'live', '2026-01-01T00:00:00.001Z');
const eventObject = { op: 'event', type: 'message.created', roomId: ROOM, message, timestamp: '2026-01-01T00:00:00.001Z', source: 'live' };

export interface MicroResult {
  name: string;
  /** Nanoseconds per call (mean). */
  nsPerOp: number;
  opsPerSec: number;
  /** Relative margin of error of the mean, %. */
  rme: number;
  /** The plain-JSON reference this is compared with, if any. */
  reference?: string;
}

let sink: unknown;
const repeat = (fn: () => unknown) => () => {
  for (let i = 0; i < INNER; i++) sink = fn();
};

export async function runMicro(timeMs = 600): Promise<MicroResult[]> {
  const bucket = createTokenBucket(1_000_000_000, 0);
  let now = 0;
  const tasks: Array<{ name: string; fn: () => unknown; reference?: string }> = [
    { name: 'JSON.parse(send frame)', fn: () => JSON.parse(sendFrame) },
    { name: 'parseFrame(send)', fn: () => parseFrame(sendFrame), reference: 'JSON.parse(send frame)' },
    { name: 'parseFrame(auth)', fn: () => parseFrame(authFrame), reference: 'JSON.parse(send frame)' },
    { name: 'parseFrame(invalid JSON)', fn: () => parseFrame('{"op":"send",') },
    { name: 'takeToken', fn: () => takeToken(bucket, 1_000_000_000, 1000, (now += 1)) },
    { name: 'JSON.stringify(event)', fn: () => JSON.stringify(eventObject) },
    { name: 'serializeMessageEvent', fn: () => serializeMessageEvent(ROOM, message, 'live'), reference: 'JSON.stringify(event)' },
    { name: 'JSON.parse(event frame)', fn: () => JSON.parse(eventFrame) },
    { name: 'routeOf(event frame)', fn: () => routeOf(eventFrame), reference: 'JSON.parse(event frame)' },
  ];
  const bench = new Bench({ time: timeMs, warmupTime: 100 });
  for (const task of tasks) bench.add(task.name, repeat(task.fn));
  await bench.run();
  void sink;
  return tasks.map((task, i) => {
    const result = bench.tasks[i]!.result;
    if (!('latency' in result)) throw new Error(`micro-benchmark ${task.name} did not complete (${result.state})`);
    const nsPerOp = (result.latency.mean * 1e6) / INNER;
    return { name: task.name, nsPerOp, opsPerSec: 1e9 / nsPerOp, rme: result.latency.rme, ...(task.reference ? { reference: task.reference } : {}) };
  });
}

/**
 * For the gate: each referenced function's cost relative to its plain-JSON reference,
 * timed in alternation (reference, function, reference, ...) so that a change in the
 * machine's load hits both sides alike; the median of the per-round ratios.
 */
export function pairedMicroRatios(rounds = 150, inner = 400): Record<string, number> {
  const fns = new Map<string, () => unknown>([
    ['JSON.parse(send frame)', () => JSON.parse(sendFrame)],
    ['parseFrame(send)', () => parseFrame(sendFrame)],
    ['JSON.stringify(event)', () => JSON.stringify(eventObject)],
    ['serializeMessageEvent', () => serializeMessageEvent(ROOM, message, 'live')],
    ['JSON.parse(event frame)', () => JSON.parse(eventFrame)],
    ['routeOf(event frame)', () => routeOf(eventFrame)],
  ]);
  const pairs: Array<[string, string]> = [
    ['parseFrame(send)', 'JSON.parse(send frame)'],
    ['serializeMessageEvent', 'JSON.stringify(event)'],
    ['routeOf(event frame)', 'JSON.parse(event frame)'],
  ];
  const time = (fn: () => unknown) => {
    const start = performance.now();
    for (let i = 0; i < inner; i++) sink = fn();
    return performance.now() - start;
  };
  const out: Record<string, number> = {};
  for (const [name, refName] of pairs) {
    const fn = fns.get(name)!;
    const ref = fns.get(refName)!;
    for (let i = 0; i < 20; i++) {
      // warm up both
      time(ref);
      time(fn);
    }
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const a = time(ref);
      const b = time(fn);
      const c = time(ref);
      ratios.push(b / ((a + c) / 2));
    }
    ratios.sort((x, y) => x - y);
    out[`${name} / ${refName}`] = ratios[ratios.length >> 1]!;
  }
  return out;
}

/** Cost of each referenced task relative to its plain-JSON reference (lower is better). */
export function microRatios(results: readonly MicroResult[]): Record<string, number> {
  const byName = new Map(results.map((r) => [r.name, r]));
  const ratios: Record<string, number> = {};
  for (const r of results) {
    const ref = r.reference ? byName.get(r.reference) : undefined;
    if (ref) ratios[`${r.name} / ${ref.name}`] = r.nsPerOp / ref.nsPerOp;
  }
  return ratios;
}
