// The HTTP face of a process that has no HTTP server of its own (the workers), on
// METRICS_PORT: GET /metrics (Prometheus), /health (liveness: the process answers) and
// /ready (readiness: every check — PostgreSQL, Redis, ... — answers within its timeout).
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger';
import { renderMetrics, type Registry } from './metrics';
import { withTimeout } from './timeout';

/** Named readiness checks: each resolves when its dependency answers. */
export type ReadinessChecks = Record<string, () => Promise<unknown>>;

export interface MetricsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  checks: ReadinessChecks;
  logger: Logger;
  checkTimeoutMs?: number;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}

const sendJson = (res: ServerResponse, status: number, body: unknown) => send(res, status, 'application/json', JSON.stringify(body));

/**
 * GET /ready's answer, the same for the gateway and the workers: 200 `{ready:true}`, or 503
 * `{ready:false, failed:{<check>: why}}` naming each check that failed.
 */
export type ReadyBody = { ready: true } | { ready: false; failed: Record<string, string> };

export function readiness(failed: Record<string, string>): { status: 200 | 503; body: ReadyBody } {
  return Object.keys(failed).length === 0 ? { status: 200, body: { ready: true } } : { status: 503, body: { ready: false, failed } };
}

/** Runs every check at once; the failures, by name (empty when ready). */
export async function failedChecks(checks: ReadinessChecks, timeoutMs: number): Promise<Record<string, string>> {
  const names = Object.keys(checks);
  const results = await Promise.allSettled(names.map((name) => withTimeout(checks[name]!(), timeoutMs, name)));
  const failed: Record<string, string> = {};
  results.forEach((result, i) => {
    if (result.status === 'rejected') failed[names[i]!] = result.reason instanceof Error ? result.reason.message : String(result.reason);
  });
  return failed;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, checks, logger } = options;
  const checkTimeoutMs = options.checkTimeoutMs ?? 2000;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
    if (path === '/health') return sendJson(res, 200, { ok: true });
    if (path === '/metrics') {
      renderMetrics(registry).then(
        ({ contentType, body }) => send(res, 200, contentType, body),
        (err: unknown) => {
          logger.warn({ err }, 'metrics scrape failed');
          sendJson(res, 500, { error: 'metrics unavailable' });
        },
      );
      return;
    }
    if (path === '/ready') {
      failedChecks(checks, checkTimeoutMs).then((failed) => {
        const { status, body } = readiness(failed);
        sendJson(res, status, body);
      });
      return;
    }
    sendJson(res, 404, { error: 'not found' });
  });
  // Probes and scrapes are short; an idle keep-alive socket must not hold shutdown up.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'metrics and probes listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
