import { describe, expect, it } from 'vitest';
import { judge, judgeAll, type Baseline, type GateMetric } from './gate';

const baseline: Baseline = {
  tolerance: 0.4,
  metrics: {
    throughput: { better: 'higher', ratio: 3 },
    cpu: { better: 'lower', ratio: 0.2 },
    strict: { better: 'higher', ratio: 2, tolerance: 0.1 },
  },
};
const metric = (name: string, ratio: number, better: 'higher' | 'lower' = 'higher'): GateMetric => ({ name, better, ratio, samples: [ratio] });

describe('judge', () => {
  it('passes a higher-is-better ratio that lost less than the tolerance', () => {
    expect(judge(metric('throughput', 1.9), baseline).ok).toBe(true); // 1.9 / 3 = 0.63 ≥ 0.6
  });

  it('fails a higher-is-better ratio that lost more than the tolerance', () => {
    const v = judge(metric('throughput', 1.7), baseline); // 0.57 < 0.6
    expect(v.ok).toBe(false);
    expect(v.reason).toMatch(/regressed/);
  });

  it('orients lower-is-better ratios: a CPU ratio that grew is a loss', () => {
    expect(judge(metric('cpu', 0.33, 'lower'), baseline).ok).toBe(true); // 0.2 / 0.33 = 0.606
    expect(judge(metric('cpu', 0.35, 'lower'), baseline).ok).toBe(false); // 0.571
    expect(judge(metric('cpu', 0.1, 'lower'), baseline).relative).toBeCloseTo(2);
  });

  it('uses a metric’s own tolerance over the default', () => {
    expect(judge(metric('strict', 1.85), baseline).ok).toBe(true);
    expect(judge(metric('strict', 1.75), baseline).ok).toBe(false);
  });

  it('fails a metric that could not be measured rather than passing it', () => {
    expect(judge(metric('throughput', NaN), baseline).ok).toBe(false);
    expect(judge(metric('throughput', 0), baseline).ok).toBe(false);
  });

  it('does not gate a metric the baseline does not know', () => {
    expect(judge(metric('new', 0.01), baseline).ok).toBe(true);
  });
});

describe('judgeAll', () => {
  it('fails when a baseline metric was not measured at all', () => {
    const { ok, verdicts } = judgeAll([metric('throughput', 3), metric('cpu', 0.2, 'lower')], baseline);
    expect(ok).toBe(false);
    expect(verdicts.find((v) => v.name === 'strict')?.reason).toMatch(/not measured/);
  });

  it('passes when every metric is within tolerance', () => {
    expect(judgeAll([metric('throughput', 3.5), metric('cpu', 0.21, 'lower'), metric('strict', 2)], baseline).ok).toBe(true);
  });
});
