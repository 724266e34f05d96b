import { describe, expect, it } from 'vitest';
import type { PhaseResult } from '../scenarios/fanout';
import { compare, evaluateTargets, renderMarkdown, type RunResults } from './report';

function phase(system: 'ours' | 'socketio', path: 'full' | 'fanout', load: 'fixed' | 'saturation', delivered: number, p99: number, cpu: number): PhaseResult {
  return {
    system,
    path,
    load,
    fanout: 100,
    rooms: 8,
    sockets: 800,
    offeredRate: load === 'fixed' ? 200 : null,
    sentPerSec: delivered / 100,
    deliveredPerSec: delivered,
    latencyMs: { count: 1000, p50: p99 / 4, p99, p999: p99 * 2, max: p99 * 3, mean: p99 / 3 },
    missing: 0,
    serverCpuUsPerDelivered: cpu,
    systemCpuUsPerDelivered: cpu * 1.5,
    serverCores: { gateway: 0.5 },
    clientCoreMax: 0.3,
    clientBusyMax: 0.5,
    clientSaturated: false,
    serverBusy: 0.6,
    rssPerConnectionBytes: 20_480,
    sendErrors: 0,
    closedSockets: 0,
    load1: 1,
    workerAvgBatch: null,
    dbCpuUsPerSent: null,
  };
}

const results: RunResults = {
  name: 'test',
  startedAt: '2026-01-01T00:00:00Z',
  finishedAt: '2026-01-01T00:10:00Z',
  machine: { cpus: 2, model: 'cpu', node: 'v20', loadAtStart: [1, 1, 1], loadAtEnd: [1, 1, 1] },
  settings: {},
  fanout: [
    phase('ours', 'fanout', 'saturation', 400_000, 50, 0.5),
    phase('socketio', 'fanout', 'saturation', 100_000, 80, 5),
    phase('ours', 'full', 'saturation', 30_000, 300, 6),
    phase('socketio', 'full', 'saturation', 20_000, 400, 12),
  ],
  worker: [
    {
      batchSize: 500,
      workers: 1,
      backlog: 100_000,
      history: 200_000,
      rooms: 1000,
      published: 100_000,
      seconds: 4,
      rowsPerSec: 25_000,
      workerCpuUsPerRow: 20,
      drained: true,
      load1: 1,
    },
  ],
  micro: [],
};

describe('compare', () => {
  it('pairs ours with Socket.IO on the same fan-out, path and load, as ours/theirs', () => {
    const c = compare(results.fanout).find((x) => x.path === 'fanout' && x.load === 'saturation' && x.metric === 'deliveredPerSec');
    expect(c).toMatchObject({ ours: 400_000, theirs: 100_000, ratio: 4, better: 'higher' });
  });
});

describe('evaluateTargets', () => {
  const targets = evaluateTargets(results);

  it('meets the fan-out-only throughput and CPU targets at 4× and 1/10', () => {
    expect(targets.find((t) => t.target.startsWith('F=100 fan-out-only: delivered'))?.met).toBe(true);
    expect(targets.find((t) => t.target.startsWith('F=100 fan-out-only: server CPU'))?.met).toBe(true);
  });

  it('misses the full-path throughput target at 1.5×', () => {
    expect(targets.find((t) => t.target.startsWith('F=100 full path: delivered'))?.met).toBe(false);
  });

  it('leaves an unmeasured target open rather than calling it met', () => {
    expect(targets.find((t) => t.target.startsWith('e2e p99'))?.met).toBeNull();
  });

  it('judges the durable-path targets per fan-out, and leaves the fan-outs not run open', () => {
    expect(targets.find((t) => t.target === 'F=100 full path: delivered msgs/s ≥ 3× Socket.IO')?.met).toBe(false);
    expect(targets.find((t) => t.target === 'F=1 full path: delivered msgs/s ≥ 2× Socket.IO')?.met).toBeNull();
    expect(targets.find((t) => t.target.startsWith('F=100 full path: p99 at a fixed rate'))?.met).toBeNull();
  });

  it('judges the worker target on the batch-500 runs', () => {
    expect(targets.find((t) => t.target.startsWith('worker'))?.met).toBe(true);
  });
});

describe('renderMarkdown', () => {
  it('shows each headline figure as ours, theirs and the ratio', () => {
    const md = renderMarkdown(results);
    expect(md).toContain('| 100 | delivered msgs/s, fan-out only, saturation | 400,000 | 100,000 | 4.00× |');
  });
});
