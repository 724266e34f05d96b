// Plain HTTP routes of the gateway: liveness and readiness.
import type { UWS } from './uws';

export { withTimeout } from '../shared/timeout';

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export const statusLine = (status: number) => `${status} ${STATUS_TEXT[status] ?? 'Unknown'}`;

/** A JSON response (none for 204), with extra headers. */
export function sendJson(res: UWS.HttpResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.cork(() => {
    res.writeStatus(statusLine(status));
    for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
    if (status === 204) {
      res.end();
      return;
    }
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
    .catch((err: unknown) => ({ status: 503, body: { ready: false, failed: { gateway: err instanceof Error ? err.message : String(err) } } }))
    .then(({ status, body }) => {
      if (!aborted) sendJson(res, status, body);
    });
}
