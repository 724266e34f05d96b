// The gateway's Prometheus metrics, and the uWS route that serves them (GET /metrics on
// the gateway's own port). Updated where things happen: a socket opens or closes, an op
// finishes, an event goes out to a topic. Nothing is done per socket on a scrape.
import { Counter, Gauge, Histogram, LATENCY_BUCKETS_SECONDS, renderMetrics, type Registry } from '../shared/metrics';
import type { UWS } from './uws';

export interface GatewayMetrics {
  ops: Counter<'op' | 'result'>;
  rateLimited: Counter;
  slowConsumerCloses: Counter;
  closes: Counter<'reason'>;
  deliveryLatency: Histogram;
  /** What the delivery rule did in a room (see docs/delivery.md). */
  deliveryRule: Counter<'event'>;
  /** Sends written per transaction (group commit). */
  sendBatchSize: Histogram;
  /** Messages this gateway published itself, or handed to the workers when it could not. */
  fastPath: Counter<'result'>;
  /** An op finished: `result` is `ok` or its error string (a fixed set: see gateway/frames.ts, gateway/ops/). */
  opDone(op: string, result: string): void;
  /** A socket closed with this WebSocket close code. */
  closed(code: number): void;
  /** A live event, published by a worker at `publishedAtMs`, was handed to its uWS topic now. */
  delivered(publishedAtMs: number): void;
}

/** Close codes an operator can tell apart; anything else counts as `other`. */
const CLOSE_REASONS: Record<number, string> = {
  1000: 'normal',
  1001: 'going_away',
  // A close frame without a code (close() with no argument, in browsers and in ws): the client meant it.
  1005: 'normal',
  // No close frame: the client vanished, or uWS dropped a socket over WS_SEND_HIGH_WATER on a topic publish.
  1006: 'abnormal',
  1009: 'frame_too_big',
  4001: 'auth_timeout',
  4003: 'token_expired',
  4008: 'slow_consumer',
};

export function createGatewayMetrics(
  registry: Registry,
  gauges: { connections: () => number; rooms: () => number; ready: () => Promise<boolean> },
): GatewayMetrics {
  const registers = [registry];
  new Gauge({
    name: 'arcyou_gateway_connections',
    help: 'Open WebSocket connections on this gateway.',
    registers,
    collect() {
      this.set(gauges.connections());
    },
  });
  new Gauge({
    name: 'arcyou_gateway_ready',
    help: '1 while GET /ready would answer 200 (PostgreSQL answers, the bus subscription is live, not draining), else 0.',
    registers,
    async collect() {
      this.set((await gauges.ready()) ? 1 : 0);
    },
  });
  new Gauge({
    name: 'arcyou_gateway_rooms',
    help: 'Rooms with at least one joined socket on this gateway.',
    registers,
    collect() {
      this.set(gauges.rooms());
    },
  });
  const ops = new Counter({
    name: 'arcyou_gateway_ops_total',
    help: 'Client ops handled, by op and result (ok, or the error string the client got).',
    labelNames: ['op', 'result'] as const,
    registers,
  });
  const rateLimited = new Counter({
    name: 'arcyou_gateway_rate_limited_total',
    help: 'Frames refused with rate_limited (connection over RL_BUCKET_CAPACITY per RL_REFILL_MS).',
    registers,
  });
  const slowConsumerCloses = new Counter({
    name: 'arcyou_gateway_slow_consumer_closes_total',
    help: 'Sockets the gateway closed (4008) because a reply or catch-up event did not fit under WS_SEND_HIGH_WATER.',
    registers,
  });
  const closes = new Counter({
    name: 'arcyou_gateway_connections_closed_total',
    help: 'Closed WebSocket connections by reason (close code: normal, going_away, abnormal, frame_too_big, auth_timeout, slow_consumer, other).',
    labelNames: ['reason'] as const,
    registers,
  });
  const deliveryLatency = new Histogram({
    name: 'arcyou_gateway_delivery_latency_seconds',
    help: 'From the worker publishing a live event (its timestamp) to this gateway handing it to the room topic.',
    buckets: LATENCY_BUCKETS_SECONDS,
    registers,
  });

  const deliveryRule = new Counter({
    name: 'arcyou_gateway_delivery_rule_total',
    help: 'What per-room seq delivery did: duplicate (an event already delivered, dropped), gap_read (missing messages read from PostgreSQL), gap_notice (a gap that could not be read in time, announced to clients).',
    labelNames: ['event'] as const,
    registers,
  });

  const sendBatchSize = new Histogram({
    name: 'arcyou_gateway_send_batch_size',
    help: 'Sends written in one transaction (group commit: sends that arrive while earlier ones are being written go together).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers,
  });
  const fastPath = new Counter({
    name: 'arcyou_gateway_fast_path_total',
    help: "Stored messages this gateway published itself right after their commit (published), or handed to the outbox workers because the publish failed (handed_over). Messages of rooms with rows in the workers' hands go to the workers from the start and are not counted.",
    labelNames: ['result'] as const,
    registers,
  });

  return {
    ops,
    deliveryRule,
    sendBatchSize,
    fastPath,
    rateLimited,
    slowConsumerCloses,
    closes,
    deliveryLatency,
    opDone(op, result) {
      ops.inc({ op, result });
    },
    closed(code) {
      closes.inc({ reason: CLOSE_REASONS[code] ?? 'other' });
    },
    delivered(publishedAtMs) {
      // Clocks of two hosts can disagree by a little: never report negative latency.
      deliveryLatency.observe(Math.max(0, Date.now() - publishedAtMs) / 1000);
    },
  };
}

/** GET /metrics as a uWS route. */
export function metricsRoute(registry: Registry) {
  return (res: UWS.HttpResponse) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    renderMetrics(registry).then(
      ({ contentType, body }) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('200 OK');
          res.writeHeader('content-type', contentType);
          res.end(body);
        });
      },
      (err: unknown) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('500 Internal Server Error');
          res.end(err instanceof Error ? err.message : String(err));
        });
      },
    );
  };
}
