// The perf gate's verdict, pure. Each gated metric is a same-run ratio (ours / Socket.IO
// on identical load, or ours / a reference computed in the same process), so machine
// speed cancels out; the gate compares that ratio with the committed baseline's.

export type Direction = 'higher' | 'lower';

export interface GateMetric {
  name: string;
  /** Whether a larger ratio is better (throughput) or worse (CPU per message, latency). */
  better: Direction;
  /** Median of the repeated measurements of this ratio in this run. */
  ratio: number;
  /** The individual ratios the median came from. */
  samples: number[];
}

export interface Baseline {
  /** Allowed relative loss before the gate fails, e.g. 0.35 = a ratio may be 35% worse. */
  tolerance: number;
  metrics: Record<string, { better: Direction; ratio: number; tolerance?: number }>;
}

export interface Verdict {
  name: string;
  better: Direction;
  baseline: number;
  current: number;
  /** current / baseline, oriented so that < 1 means worse. */
  relative: number;
  tolerance: number;
  ok: boolean;
  reason: string;
}

/** Compares one metric with its baseline: fails when it got worse by more than the tolerance. */
export function judge(metric: GateMetric, baseline: Baseline): Verdict {
  const base = baseline.metrics[metric.name];
  const tolerance = base?.tolerance ?? baseline.tolerance;
  if (!base) {
    return {
      name: metric.name,
      better: metric.better,
      baseline: NaN,
      current: metric.ratio,
      relative: NaN,
      tolerance,
      ok: true,
      reason: 'not in baseline (not gated)',
    };
  }
  if (!Number.isFinite(metric.ratio) || metric.ratio <= 0) {
    return {
      name: metric.name,
      better: base.better,
      baseline: base.ratio,
      current: metric.ratio,
      relative: NaN,
      tolerance,
      ok: false,
      reason: 'no valid measurement',
    };
  }
  const relative = base.better === 'higher' ? metric.ratio / base.ratio : base.ratio / metric.ratio;
  const ok = relative >= 1 - tolerance;
  const change = `${relative >= 1 ? '+' : ''}${((relative - 1) * 100).toFixed(1)}%`;
  const reason = ok
    ? `${change} vs baseline (allowed −${(tolerance * 100).toFixed(0)}%)`
    : `regressed ${change} vs baseline, beyond the allowed −${(tolerance * 100).toFixed(0)}%`;
  return { name: metric.name, better: base.better, baseline: base.ratio, current: metric.ratio, relative, tolerance, ok, reason };
}

export function judgeAll(metrics: readonly GateMetric[], baseline: Baseline): { ok: boolean; verdicts: Verdict[] } {
  const verdicts = metrics.map((m) => judge(m, baseline));
  const measured = new Set(metrics.map((m) => m.name));
  for (const [name, base] of Object.entries(baseline.metrics)) {
    if (!measured.has(name)) {
      verdicts.push({
        name,
        better: base.better,
        baseline: base.ratio,
        current: NaN,
        relative: NaN,
        tolerance: base.tolerance ?? baseline.tolerance,
        ok: false,
        reason: 'in baseline but not measured',
      });
    }
  }
  return { ok: verdicts.every((v) => v.ok), verdicts };
}
