// Prometheus metrics (prom-client). Each process owns one registry, created in its
// main.ts and handed to the parts that define metrics in it (gateway/metrics.ts,
// worker/metrics.ts), so parts that share a process (npm start, tests) share a
// registry without clashing in a global one. Metrics are counters and gauges updated
// where things happen; nothing here does work per socket or per message beyond that.
import { collectDefaultMetrics, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** A registry; with `processMetrics`, also the Node.js runtime metrics (CPU, memory, event-loop lag, GC). */
export function createRegistry(options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return registry;
}

/** Latency buckets in seconds, from 1 ms (same machine) to 30 s (a backlog being drained). */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The exposition a scrape gets. */
export async function renderMetrics(registry: Registry): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}
