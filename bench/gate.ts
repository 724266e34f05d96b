// `npm run bench:gate`: the CI perf regression gate (< 4 minutes on 2 cores).
//
// It never gates absolute numbers (the machines are shared and noisy). It measures
// same-run ratios — ours / Socket.IO on identical load at fan-out 100 (fan-out only and
// full path), 10 and 1 (full path, and at 10 the p99 and PostgreSQL CPU at a fixed rate),
// two outbox workers' throughput / one's, and our hot functions / plain
// JSON.parse|stringify in the same process — repeats them with the two systems
// interleaved, takes each ratio's median, and compares it with
// bench/baseline.json: a ratio worse than the baseline's by more than the tolerance
// stated there fails the gate (exit 1). Exit 2: the run itself broke.
//
//   npm run bench:gate                        # compare with bench/baseline.json
//   npm run bench:gate -- --write-baseline    # measure and write bench/baseline.json
//   npm run bench:gate -- --baseline=FILE     # compare with another baseline
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { adminDatabaseUrl, machineInfo, oursEnv, sharedRedisUrl } from './lib/bench-env';
import { judgeAll, type Baseline, type Direction, type GateMetric } from './lib/gate';
import { median, ratio } from './lib/stats';
import { runFanoutGroup, type PhaseKind, type PhaseResult } from './scenarios/fanout';
import { pairedMicroRatios } from './scenarios/micro';
import { runWorkerConfig } from './scenarios/worker-throughput';
import { createBenchDatabase } from './system/database';
import { startPrivateRedis } from './system/processes';
import type { System } from './load/wire';

const DEFAULT_TOLERANCE = 0.4;
const BUDGET_MS = 6 * 60_000;

const { values: args } = parseArgs({
  options: {
    'write-baseline': { type: 'boolean', default: false },
    baseline: { type: 'string', default: 'bench/baseline.json' },
    repeats: { type: 'string', default: '3' },
    tolerance: { type: 'string', default: String(DEFAULT_TOLERANCE) },
  },
});

const log = (line: string) => process.stdout.write(`${line}\n`);
const BASELINE_PATH = args.baseline;
const startedAt = Date.now();
const machine = machineInfo();
log(`bench:gate on ${machine.cpus} cpus, load ${machine.load.map((x) => x.toFixed(2)).join(' ')}`);

const TIMING = { warmupMs: 1000, measureMs: 2500, drainMs: 1000 };

interface FanoutRatio {
  name: string;
  better: Direction;
  /** Relative loss allowed before failing (written into the baseline). */
  tolerance: number;
  of(ours: PhaseResult[], theirs: PhaseResult[]): number;
}

const phase = (results: PhaseResult[], kind: PhaseKind) => results.find((r) => r.path === kind.path && r.load === kind.load);
const valid = (r: PhaseResult | undefined): r is PhaseResult => !!r && r.deliveredPerSec > 0 && r.closedSockets === 0;
const fanoutRatio = (name: string, better: Direction, tolerance: number, kind: PhaseKind, pick: (r: PhaseResult) => number): FanoutRatio => ({
  name,
  better,
  tolerance,
  of: (ours, theirs) => {
    const o = phase(ours, kind);
    const t = phase(theirs, kind);
    return valid(o) && valid(t) ? ratio(pick(o), pick(t)) : NaN;
  },
});

const FANOUT_ONLY: PhaseKind = { path: 'fanout', load: 'saturation' };
const FULL: PhaseKind = { path: 'full', load: 'saturation' };
const FULL_FIXED: PhaseKind = { path: 'full', load: 'fixed' };

// Tolerances: what one noisy 2-core machine showed between repeats, with room to spare.
// Fan-out-only throughput is widest: there our side is often bound by the load
// generator's CPU share, not by the gateway. CPU-per-message ratios are the steadiest;
// a p99 over a few seconds the least steady.
const GROUPS: Array<{ fanout: number; rooms: number; phases: PhaseKind[]; ratios: FanoutRatio[] }> = [
  {
    fanout: 100,
    rooms: 8,
    phases: [FANOUT_ONLY, FULL],
    ratios: [
      fanoutRatio('F=100 fan-out-only delivered msgs/s, ours/Socket.IO', 'higher', 0.5, FANOUT_ONLY, (r) => r.deliveredPerSec),
      fanoutRatio('F=100 fan-out-only server CPU µs per delivered msg, ours/Socket.IO', 'lower', 0.4, FANOUT_ONLY, (r) => r.serverCpuUsPerDelivered),
      fanoutRatio('F=100 full path delivered msgs/s, ours/Socket.IO', 'higher', 0.4, FULL, (r) => r.deliveredPerSec),
      fanoutRatio('F=100 full path CPU µs per delivered msg (ours: gateway+worker), ours/Socket.IO', 'lower', 0.4, FULL, (r) => r.systemCpuUsPerDelivered),
    ],
  },
  {
    fanout: 10,
    rooms: 16,
    phases: [FULL_FIXED, FULL],
    ratios: [
      fanoutRatio('F=10 full path delivered msgs/s, ours/Socket.IO', 'higher', 0.4, FULL, (r) => r.deliveredPerSec),
      fanoutRatio('F=10 full path p99 ms at 1,000 sent/s, ours/Socket.IO', 'lower', 0.6, FULL_FIXED, (r) => r.latencyMs.p99),
      fanoutRatio('F=10 full path PostgreSQL CPU µs per sent msg at 1,000 sent/s, ours/Socket.IO', 'lower', 0.4, FULL_FIXED, (r) => r.dbCpuUsPerSent ?? NaN),
    ],
  },
  {
    fanout: 1,
    rooms: 32,
    phases: [FULL],
    // 1.89–2.04 in the six repeats of two quiet gate runs; a run beside other work: median 1.71 (2026-12-02).
    ratios: [fanoutRatio('F=1 full path delivered msgs/s, ours/Socket.IO', 'higher', 0.3, FULL, (r) => r.deliveredPerSec)],
  },
];
// Same-process ratios: within ±4% between two gate runs (2026-12-02).
const MICRO_TOLERANCE = 0.2;

// Worker scale-out: two workers on a backlog over more rooms than one batch holds drain it
// about as fast as one on two cores (ratio 0.98–1.01 in three repeats), where the claim that
// read a whole index per candidate row gave 0.57–0.76 (worker/outbox/sql/claim.ts).
const WORKER_SCALE = { batchSize: 500, backlog: 60_000, history: 20_000, rooms: 1000, capMs: 20_000 };
const WORKER_SCALE_TOLERANCE = 0.25;
const WORKER_SCALE_METRIC = 'worker rows/s at batch 500 over 1,000 rooms, 2 workers / 1';

async function measure(): Promise<Array<GateMetric & { tolerance: number }>> {
  const db = await createBenchDatabase(adminDatabaseUrl(), 'gate');
  const redis = await startPrivateRedis(sharedRedisUrl());
  const samples = new Map<string, { better: Direction; tolerance: number; values: number[] }>();
  const add = (name: string, better: Direction, tolerance: number, value: number) => {
    const entry = samples.get(name) ?? { better, tolerance, values: [] };
    entry.values.push(value);
    samples.set(name, entry);
  };
  try {
    const repeats = Number(args.repeats);
    for (let rep = 0; rep < repeats; rep++) {
      if (rep >= 2 && Date.now() - startedAt > BUDGET_MS * 0.7) {
        log(`time budget: stopping after ${rep} repeats`);
        break;
      }
      const order: System[] = rep % 2 === 0 ? ['ours', 'socketio'] : ['socketio', 'ours'];
      for (const group of GROUPS) {
        const bySystem: Partial<Record<System, PhaseResult[]>> = {};
        for (const system of order) {
          bySystem[system] = await runFanoutGroup({
            system,
            fanout: group.fanout,
            rooms: group.rooms,
            phases: group.phases,
            timing: TIMING,
            clients: 2,
            sql: db.sql,
            databaseUrl: db.url,
            redisUrl: redis.url,
            oursEnv: oursEnv(),
            log,
          });
        }
        for (const r of group.ratios) add(r.name, r.better, r.tolerance, r.of(bySystem.ours!, bySystem.socketio!));
      }
      const rowsPerSec: Record<number, number> = {};
      const { batchSize, ...backlog } = WORKER_SCALE;
      for (const workers of rep % 2 === 0 ? [1, 2] : [2, 1]) {
        const result = await runWorkerConfig(db.sql, db.url, redis.url, { batchSize, workers }, backlog);
        log(`  worker batch ${batchSize} × ${workers}: ${result.rowsPerSec.toFixed(0)} rows/s${result.drained ? '' : ' (time cap)'}`);
        rowsPerSec[workers] = result.rowsPerSec;
      }
      add(WORKER_SCALE_METRIC, 'higher', WORKER_SCALE_TOLERANCE, rowsPerSec[2]! / rowsPerSec[1]!);
      for (const [name, value] of Object.entries(pairedMicroRatios())) add(`micro ${name}`, 'lower', MICRO_TOLERANCE, value);
    }
  } finally {
    await redis.stop();
    await db.drop();
  }
  return [...samples].map(([name, { better, tolerance, values }]) => ({ name, better, tolerance, ratio: median(values), samples: values }));
}

function writeBaseline(metrics: Array<GateMetric & { tolerance: number }>) {
  const baseline: Baseline & Record<string, unknown> = {
    comment:
      'Perf gate baseline (npm run bench:gate). Each metric is a same-run ratio (ours / Socket.IO on identical load, or our function / plain JSON in the same process), median of interleaved repeats. ' +
      'The gate fails when a ratio is worse than this baseline by more than its `tolerance` (relative; the top-level one for metrics without their own): generous, because the CI machine has 2 cores shared with other work and one repeat can swing by tens of percent. ' +
      'Regenerate with `npm run bench:gate -- --write-baseline` after an intended change, and commit it with the change.',
    tolerance: Number(args.tolerance),
    measuredAt: new Date().toISOString(),
    machine: { cpus: machine.cpus, model: machine.model, node: machine.node, load: machine.load },
    metrics: Object.fromEntries(
      metrics.map((m) => [
        m.name,
        { better: m.better, ratio: Number(m.ratio.toPrecision(4)), tolerance: m.tolerance, samples: m.samples.map((s) => Number(s.toPrecision(4))) },
      ]),
    ),
  };
  writeFileSync(BASELINE_PATH, JSON.stringify(baseline, null, 2) + '\n');
  log(`wrote ${BASELINE_PATH}`);
}

try {
  const metrics = await measure();
  if (args['write-baseline']) {
    writeBaseline(metrics);
    process.exit(0);
  }
  const baseline = JSON.parse(readFileSync(BASELINE_PATH, 'utf8')) as Baseline;
  const { ok, verdicts } = judgeAll(metrics, baseline);
  log('');
  for (const v of verdicts) {
    const samples =
      metrics
        .find((m) => m.name === v.name)
        ?.samples.map((s) => s.toFixed(3))
        .join(', ') ?? '';
    log(
      `${v.ok ? 'ok  ' : 'FAIL'} ${v.name}: ${Number.isFinite(v.current) ? v.current.toFixed(3) : 'n/a'} (baseline ${Number.isFinite(v.baseline) ? v.baseline.toFixed(3) : 'n/a'}; ${v.better} is better; samples ${samples}) — ${v.reason}`,
    );
  }
  log(
    `\nbench:gate ${ok ? 'passed' : 'FAILED'} in ${((Date.now() - startedAt) / 1000).toFixed(0)} s (tolerance ${(baseline.tolerance * 100).toFixed(0)}% unless a metric states its own)`,
  );
  process.exit(ok ? 0 : 1);
} catch (err) {
  process.stderr.write(`bench:gate could not run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
}
