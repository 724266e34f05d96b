// Turns a run's raw results into what people read: the headline comparison (ours,
// Socket.IO, ratio), the targets, the markdown tables and the chart. Pure.
import type { ConnectionsResult } from '../scenarios/connections';
import type { MicroResult } from '../scenarios/micro';
import type { Load, Path, PhaseResult } from '../scenarios/fanout';
import type { WorkerResult } from '../scenarios/worker-throughput';
import { formatNumber, formatRatio, ratio } from './stats';
import type { ChartSpec, Series } from './svg-chart';

export interface RunInfo {
  name: string;
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; model: string; node: string; loadAtStart: number[]; loadAtEnd: number[] };
  settings: Record<string, unknown>;
}

/** Our fan-out-only saturation on one Redis and on a Redis Cluster (sharded Pub/Sub), same load. */
export interface RedisClusterResult {
  redis: 'one Redis' | 'Redis Cluster, 3 masters';
  phase: PhaseResult;
}

export interface RunResults extends RunInfo {
  fanout: PhaseResult[];
  /** Absent in runs made before this section existed. */
  redisCluster?: RedisClusterResult[];
  connections?: ConnectionsResult;
  worker: WorkerResult[];
  micro: MicroResult[];
}

export type MetricKey =
  'deliveredPerSec' | 'p50' | 'p99' | 'p999' | 'serverCpuUsPerDelivered' | 'systemCpuUsPerDelivered' | 'rssPerConnectionKiB' | 'dbCpuUsPerSent';

export interface Comparison {
  fanout: number;
  path: Path;
  load: Load;
  metric: MetricKey;
  better: 'higher' | 'lower';
  ours: number;
  theirs: number;
  ratio: number;
  /** Either side's load generator saturated a core: the figure may understate the server. */
  clientSaturated: boolean;
}

const METRICS: Array<{ metric: MetricKey; better: 'higher' | 'lower'; loads: Load[] }> = [
  { metric: 'deliveredPerSec', better: 'higher', loads: ['saturation', 'fixed'] },
  { metric: 'p50', better: 'lower', loads: ['fixed', 'saturation'] },
  { metric: 'p99', better: 'lower', loads: ['fixed', 'saturation'] },
  { metric: 'p999', better: 'lower', loads: ['fixed', 'saturation'] },
  { metric: 'serverCpuUsPerDelivered', better: 'lower', loads: ['saturation', 'fixed'] },
  { metric: 'systemCpuUsPerDelivered', better: 'lower', loads: ['saturation', 'fixed'] },
  { metric: 'rssPerConnectionKiB', better: 'lower', loads: ['saturation'] },
  { metric: 'dbCpuUsPerSent', better: 'lower', loads: ['saturation', 'fixed'] },
];

export function metricOf(r: PhaseResult, metric: MetricKey): number {
  switch (metric) {
    case 'p50':
    case 'p99':
    case 'p999':
      return r.latencyMs[metric];
    case 'rssPerConnectionKiB':
      return r.rssPerConnectionBytes / 1024;
    case 'dbCpuUsPerSent':
      return r.dbCpuUsPerSent ?? NaN;
    default:
      return r[metric];
  }
}

export function compare(results: readonly PhaseResult[]): Comparison[] {
  const find = (system: string, fanout: number, path: Path, load: Load) =>
    results.find((r) => r.system === system && r.fanout === fanout && r.path === path && r.load === load);
  const fanouts = [...new Set(results.map((r) => r.fanout))].sort((a, b) => a - b);
  const out: Comparison[] = [];
  for (const fanout of fanouts) {
    for (const path of ['full', 'fanout'] as const) {
      for (const { metric, better, loads } of METRICS) {
        for (const load of loads) {
          const ours = find('ours', fanout, path, load);
          const theirs = find('socketio', fanout, path, load);
          if (!ours || !theirs) continue;
          const o = metricOf(ours, metric);
          const t = metricOf(theirs, metric);
          // Memory per connection does not depend on how hard the load generator worked.
          const clientSaturated = metric !== 'rssPerConnectionKiB' && (ours.clientSaturated || theirs.clientSaturated);
          out.push({ fanout, path, load, metric, better, ours: o, theirs: t, ratio: ratio(o, t), clientSaturated });
        }
      }
    }
  }
  return out;
}

export interface TargetStatus {
  target: string;
  measured: string;
  met: boolean | null;
}

export function evaluateTargets(results: RunResults): TargetStatus[] {
  const comparisons = compare(results.fanout);
  const at = (fanout: number, path: Path, load: Load, metric: MetricKey) =>
    comparisons.find((c) => c.fanout === fanout && c.path === path && c.load === load && c.metric === metric);
  const out: TargetStatus[] = [];
  for (const path of ['full', 'fanout'] as const) {
    const label = path === 'full' ? 'full path' : 'fan-out-only';
    const thr = at(100, path, 'saturation', 'deliveredPerSec');
    out.push({
      target: `F=100 ${label}: delivered msgs/s ≥ 3× Socket.IO`,
      measured: thr ? `${formatNumber(thr.ours)} vs ${formatNumber(thr.theirs)} = ${formatRatio(thr.ratio)}` : 'not measured',
      met: thr ? thr.ratio >= 3 : null,
    });
    const cpu = at(100, path, 'saturation', path === 'full' ? 'systemCpuUsPerDelivered' : 'serverCpuUsPerDelivered');
    out.push({
      target: `F=100 ${label}: server CPU per delivered msg ≤ 1/3 of Socket.IO's${path === 'full' ? ' (ours: gateway + worker)' : ''}`,
      measured: cpu ? `${formatNumber(cpu.ours)} µs vs ${formatNumber(cpu.theirs)} µs = ${formatRatio(cpu.ratio)}` : 'not measured',
      met: cpu ? cpu.ratio <= 1 / 3 : null,
    });
  }
  const p99 = results.fanout.find((r) => r.system === 'ours' && r.fanout === 10 && r.path === 'full' && r.load === 'fixed');
  out.push({
    target: 'e2e p99 < 25 ms at 1,000 sent msgs/s, fan-out 10 (full path)',
    measured: p99
      ? `p99 ${formatNumber(p99.latencyMs.p99)} ms at ${formatNumber(p99.sentPerSec)} sent/s (p50 ${formatNumber(p99.latencyMs.p50)} ms)`
      : 'not measured',
    met: p99 ? p99.latencyMs.p99 < 25 && p99.sentPerSec >= 950 : null,
  });
  // The durable path against the thing users would build instead, at every fan-out of direct messages and groups.
  for (const fanout of [1, 10, 100]) {
    const thr = at(fanout, 'full', 'saturation', 'deliveredPerSec');
    // (F=100: ≥ 3×, above.)
    if (fanout < 100)
      out.push({
        target: `F=${fanout} full path: delivered msgs/s ≥ 2× Socket.IO`,
        measured: thr ? `${formatNumber(thr.ours)} vs ${formatNumber(thr.theirs)} = ${formatRatio(thr.ratio)}` : 'not measured',
        met: thr ? thr.ratio >= 2 : null,
      });
    const fixedP99 = at(fanout, 'full', 'fixed', 'p99');
    out.push({
      target: `F=${fanout} full path: p99 at a fixed rate ≤ Socket.IO's`,
      measured: fixedP99 ? `${formatNumber(fixedP99.ours)} vs ${formatNumber(fixedP99.theirs)} ms = ${formatRatio(fixedP99.ratio)}` : 'not measured',
      met: fixedP99 ? fixedP99.ratio <= 1 : null,
    });
    for (const load of ['fixed', 'saturation'] as const) {
      const db = at(fanout, 'full', load, 'dbCpuUsPerSent');
      out.push({
        target: `F=${fanout} full path: PostgreSQL CPU per sent msg ≤ Socket.IO's (${load === 'fixed' ? 'fixed rate' : 'saturation'})`,
        measured: db ? `${formatNumber(db.ours)} vs ${formatNumber(db.theirs)} µs = ${formatRatio(db.ratio)}` : 'not measured',
        met: db ? db.ratio <= 1 : null,
      });
    }
  }
  out.push({
    target: 'e2e p99 ≤ 10 ms at 1,000 sent msgs/s, fan-out 10 (full path)',
    measured: p99 ? `p99 ${formatNumber(p99.latencyMs.p99)} ms` : 'not measured',
    met: p99 ? p99.latencyMs.p99 <= 10 && p99.sentPerSec >= 950 : null,
  });
  const w500 = results.worker.filter((w) => w.batchSize === 500 && w.history > 0);
  const best = w500.reduce<WorkerResult | null>((b, w) => (!b || w.rowsPerSec > b.rowsPerSec ? w : b), null);
  out.push({
    target: 'worker ≥ 20,000 outbox rows/s with batch 500',
    measured: best ? `${formatNumber(best.rowsPerSec)} rows/s (${best.workers} worker${best.workers > 1 ? 's' : ''})` : 'not measured',
    met: best ? best.rowsPerSec >= 20_000 : null,
  });
  return out;
}

const METRIC_LABEL: Record<MetricKey, string> = {
  deliveredPerSec: 'delivered msgs/s',
  p50: 'e2e p50 ms',
  p99: 'e2e p99 ms',
  p999: 'e2e p99.9 ms',
  serverCpuUsPerDelivered: 'server CPU µs / delivered msg',
  systemCpuUsPerDelivered: 'all server processes CPU µs / delivered msg',
  rssPerConnectionKiB: 'server RSS KiB / connection',
  dbCpuUsPerSent: 'PostgreSQL backend CPU µs / sent msg',
};

const PATH_LABEL: Record<Path, string> = { full: 'full path', fanout: 'fan-out only' };

function headlineRows(comparisons: readonly Comparison[]): string[] {
  const pick: Array<{ path: Path; load: Load; metric: MetricKey }> = [
    { path: 'full', load: 'saturation', metric: 'deliveredPerSec' },
    { path: 'full', load: 'fixed', metric: 'p99' },
    { path: 'full', load: 'saturation', metric: 'systemCpuUsPerDelivered' },
    { path: 'full', load: 'saturation', metric: 'dbCpuUsPerSent' },
    { path: 'full', load: 'fixed', metric: 'dbCpuUsPerSent' },
    { path: 'fanout', load: 'saturation', metric: 'deliveredPerSec' },
    { path: 'fanout', load: 'fixed', metric: 'p99' },
    { path: 'fanout', load: 'saturation', metric: 'serverCpuUsPerDelivered' },
    { path: 'fanout', load: 'saturation', metric: 'rssPerConnectionKiB' },
  ];
  const rows: string[] = [];
  for (const fanout of [...new Set(comparisons.map((c) => c.fanout))]) {
    for (const p of pick) {
      const c = comparisons.find((x) => x.fanout === fanout && x.path === p.path && x.load === p.load && x.metric === p.metric);
      if (!c) continue;
      const label =
        p.metric === 'rssPerConnectionKiB'
          ? METRIC_LABEL[p.metric]
          : `${METRIC_LABEL[p.metric]}, ${PATH_LABEL[p.path]}, ${p.load === 'fixed' ? 'fixed rate' : 'saturation'}`;
      rows.push(`| ${fanout} | ${label} | ${formatNumber(c.ours)} | ${formatNumber(c.theirs)} | ${formatRatio(c.ratio)}${c.clientSaturated ? ' ⚠' : ''} |`);
    }
  }
  return rows;
}

export function renderMarkdown(results: RunResults): string {
  const comparisons = compare(results.fanout);
  const lines: string[] = [];
  const s = results.settings;
  lines.push(`# Bench run \`${results.name}\``, '');
  lines.push(
    `${results.startedAt} → ${results.finishedAt}; ${results.machine.cpus} × ${results.machine.model}; Node ${results.machine.node}; load average at start ${results.machine.loadAtStart.map((x) => x.toFixed(2)).join(' ')}, at end ${results.machine.loadAtEnd.map((x) => x.toFixed(2)).join(' ')}.`,
    '',
  );
  lines.push(`Settings: \`${JSON.stringify(s)}\``, '');
  if (results.fanout.length > 0) {
    lines.push('## Headline: ours vs Socket.IO 4 (+ Redis adapter)', '');
    lines.push(
      'Ratio = ours / Socket.IO. Higher is better for msgs/s; lower is better for latency, CPU and RSS. ⚠ = a load-generator process main thread never idled (on a CPU or waiting for one ≥ 90% of the phase): the figure may understate the faster side.',
      '',
    );
    lines.push('| fan-out | metric | ours | Socket.IO | ratio |', '|---:|---|---:|---:|---:|', ...headlineRows(comparisons), '');
    lines.push('## Targets', '', '| target | measured | met |', '|---|---|---|');
    for (const t of evaluateTargets(results)) lines.push(`| ${t.target} | ${t.measured} | ${t.met === null ? '—' : t.met ? 'yes' : '**no**'} |`);
    lines.push('', '## Every phase', '');
    lines.push(
      '| system | F | rooms | sockets | path | load | sent/s | delivered/s | p50 ms | p99 ms | p99.9 ms | missing | server µs/msg | all procs µs/msg | server cores | server busy | client max cpu / busy | RSS KiB/conn | db µs/sent | worker rows/round | load1 |',
    );
    lines.push('|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|');
    for (const r of results.fanout) {
      const cores = Object.entries(r.serverCores)
        .map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`)
        .join(', ');
      lines.push(
        `| ${r.system} | ${r.fanout} | ${r.rooms} | ${r.sockets} | ${PATH_LABEL[r.path]} | ${r.load}${r.offeredRate ? ` ${formatNumber(r.offeredRate)}/s` : ''} | ${formatNumber(r.sentPerSec)} | ${formatNumber(r.deliveredPerSec)} | ${formatNumber(r.latencyMs.p50)} | ${formatNumber(r.latencyMs.p99)} | ${formatNumber(r.latencyMs.p999)} | ${r.missing} | ${formatNumber(r.serverCpuUsPerDelivered)} | ${formatNumber(r.systemCpuUsPerDelivered)} | ${cores} | ${(r.serverBusy * 100).toFixed(0)}% | ${(r.clientCoreMax * 100).toFixed(0)}% / ${(r.clientBusyMax * 100).toFixed(0)}%${r.clientSaturated ? ' ⚠' : ''} | ${formatNumber(r.rssPerConnectionBytes / 1024)} | ${r.dbCpuUsPerSent === null ? '' : formatNumber(r.dbCpuUsPerSent)} | ${r.workerAvgBatch === null ? '' : r.workerAvgBatch.toFixed(1)} | ${r.load1.toFixed(1)} |`,
      );
    }
    lines.push('');
  }
  if (results.redisCluster?.length) {
    lines.push('## Fan-out only: one Redis vs a Redis Cluster (ours, PUBSUB_MODE=perconv, saturation)', '');
    lines.push(
      'Every Redis process runs on this same machine, next to the gateway and the load generator: what this shows is the cost of the cluster path, not the throughput of more machines.',
      '',
    );
    lines.push('| F | rooms | Redis | delivered/s | p50 ms | p99 ms | server µs/msg | client max cpu / busy |', '|---:|---:|---|---:|---:|---:|---:|---|');
    for (const { redis, phase: r } of results.redisCluster) {
      lines.push(
        `| ${r.fanout} | ${r.rooms} | ${redis} | ${formatNumber(r.deliveredPerSec)} | ${formatNumber(r.latencyMs.p50)} | ${formatNumber(r.latencyMs.p99)} | ${formatNumber(r.serverCpuUsPerDelivered)} | ${(r.clientCoreMax * 100).toFixed(0)}% / ${(r.clientBusyMax * 100).toFixed(0)}%${r.clientSaturated ? ' ⚠' : ''} |`,
      );
    }
    lines.push('');
  }
  if (results.connections) {
    const c = results.connections;
    const kib = (bytes: number) => `${formatNumber(bytes / 1024)} KiB`;
    lines.push('## Connections held by one gateway', '');
    if (c.limitedBy) lines.push(`${formatNumber(c.socketsAsked)} sockets were asked for; ${c.limitedBy}.`, '');
    lines.push(
      '| sockets | connect (auth + join) | RSS / connection | of it V8 heap | of it outside the heap | idle CPU / connection / s | trickle to all: messages, p50, p99 | gateway RSS |',
      '|---:|---|---:|---:|---:|---:|---|---:|',
    );
    lines.push(
      `| ${formatNumber(c.sockets)} | ${c.connectSeconds.toFixed(1)} s, ${formatNumber(c.connectsPerSec)}/s | ${kib(c.rssPerConnectionBytes)} | ${kib(c.heapPerConnectionBytes)} | ${kib(c.nativePerConnectionBytes)} | ${formatNumber(c.idleCpuUsPerConnectionSec)} µs | ${c.trickle.sent}, ${formatNumber(c.trickle.latencyMs.p50)} ms, ${formatNumber(c.trickle.latencyMs.p99)} ms${c.trickle.missing ? ` (${c.trickle.missing} missing)` : ''} | ${formatNumber(c.gatewayRssBytes / 1024 / 1024)} MiB |`,
      '',
    );
  }
  if (results.worker.length > 0) {
    lines.push('## Worker throughput (claim → publish → mark published)', '');
    lines.push(
      '| batch | workers | table before | rooms | backlog | published | seconds | rows/s | worker CPU µs/row | drained | load1 |',
      '|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|',
    );
    for (const w of results.worker)
      lines.push(
        `| ${w.batchSize} | ${w.workers} | ${w.history > 0 ? `${formatNumber(w.history)} published, analysed` : 'cold (empty at last ANALYZE)'} | ${w.rooms} | ${w.backlog} | ${w.published} | ${w.seconds.toFixed(2)} | ${formatNumber(w.rowsPerSec)} | ${formatNumber(w.workerCpuUsPerRow)} | ${w.drained ? 'yes' : 'no (time cap)'} | ${w.load1.toFixed(1)} |`,
      );
    lines.push('');
  }
  if (results.micro.length > 0) {
    lines.push('## Micro-benchmarks (tinybench)', '', '| function | ns/op | ops/s | ±% | vs plain JSON |', '|---|---:|---:|---:|---:|');
    const byName = new Map(results.micro.map((m) => [m.name, m]));
    for (const m of results.micro) {
      const ref = m.reference ? byName.get(m.reference) : undefined;
      lines.push(
        `| \`${m.name}\` | ${formatNumber(m.nsPerOp)} | ${formatNumber(m.opsPerSec)} | ${m.rme.toFixed(1)} | ${ref ? `${formatRatio(m.nsPerOp / ref.nsPerOp)} of \`${ref.name}\`` : ''} |`,
      );
    }
    lines.push('');
  }
  return lines.join('\n');
}

const COLORS = { ours: '#1f6feb', socketio: '#d1495b' };

export function chartSpec(results: RunResults): ChartSpec {
  const series = (metric: MetricKey, load: Load): Series[] =>
    (['ours', 'socketio'] as const).flatMap((system) =>
      (['full', 'fanout'] as const).map((path) => ({
        name: `${system === 'ours' ? 'ours' : 'Socket.IO'} — ${PATH_LABEL[path]}`,
        color: COLORS[system],
        dashed: path === 'fanout',
        points: results.fanout.filter((r) => r.system === system && r.path === path && r.load === load).map((r) => ({ x: r.fanout, y: metricOf(r, metric) })),
      })),
    );
  return {
    title: 'ArcYou gateway vs Socket.IO 4 + Redis adapter, by fan-out (subscribers per room)',
    subtitle: `run ${results.name}, ${results.startedAt.slice(0, 16)}Z, ${results.machine.cpus} cores shared by server, PostgreSQL, Redis and load generator; load avg ${results.machine.loadAtStart[0]?.toFixed(1)}`,
    panels: [
      {
        title: 'Delivered messages/s at saturation',
        note: 'higher is better; closed loop, ≈16k deliveries in flight',
        yLabel: 'msgs/s (log)',
        xLabel: 'fan-out (log)',
        series: series('deliveredPerSec', 'saturation'),
      },
      {
        title: 'e2e p99 latency at a fixed offered rate',
        note: 'lower is better; 1,000 sent/s up to F=10, 20,000 deliveries/s above',
        yLabel: 'ms (log)',
        xLabel: 'fan-out (log)',
        series: series('p99', 'fixed'),
      },
      {
        title: 'Server CPU per delivered message (saturation)',
        note: 'lower is better; ours = gateway (+ worker on the full path)',
        yLabel: 'µs (log)',
        xLabel: 'fan-out (log)',
        series: series('systemCpuUsPerDelivered', 'saturation'),
      },
    ],
  };
}
