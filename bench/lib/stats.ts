// Pure number work for the bench: latency summaries from an HdrHistogram, ratios,
// medians. No I/O, so the gate's arithmetic is unit-tested (stats.test.ts).

/** What a latency histogram is reduced to in results (milliseconds). */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** The part of hdr-histogram-js's Histogram the summary needs (values recorded in microseconds). */
export interface PercentileSource {
  totalCount: number;
  maxValue: number;
  mean: number;
  getValueAtPercentile(percentile: number): number;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function summarizeMicros(h: PercentileSource): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const ms = (us: number) => round3(us / 1000);
  return {
    count: h.totalCount,
    p50: ms(h.getValueAtPercentile(50)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

/** ours / theirs; NaN when either side is missing or theirs is zero. */
export function ratio(ours: number, theirs: number): number {
  if (!Number.isFinite(ours) || !Number.isFinite(theirs) || theirs === 0) return NaN;
  return ours / theirs;
}

export function median(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

/** A value with up to `digits` significant digits, for tables ("12300", "1.23", "0.0456"). */
export function formatNumber(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return '—';
  if (value === 0) return '0';
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  if (magnitude >= digits - 1) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}

export function formatRatio(value: number): string {
  return Number.isFinite(value) ? `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×` : '—';
}
