// Plain HTTP routes of the gateway: liveness and readiness.
import type { UWS } from './uws';

export { withTimeout } from '../shared/timeout';

export function sendJson(res: UWS.HttpResponse, status: number, body: unknown): void {
  res.cork(() => {
    res.writeStatus(status === 200 ? '200 OK' : status === 404 ? '404 Not Found' : `${status} Service Unavailable`);
    res.writeHeader('content-type', 'application/json');
    res.end(JSON.stringify(body));
  });
}

/** Runs an async handler on a uWS response, which must not be touched once aborted. */
export function respondAsync(res: UWS.HttpResponse, handler: () => Promise<{ status: number; body: unknown }>): void {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  handler()
    .catch((err: unknown) => ({ status: 503, body: { ready: false, error: err instanceof Error ? err.message : String(err) } }))
    .then(({ status, body }) => {
      if (!aborted) sendJson(res, status, body);
    });
}
