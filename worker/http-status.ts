/** Whether a failed HTTP exchange may succeed if tried again: server errors, throttling, timeouts. */
export const isRetryableStatus = (status: number) => status >= 500 || status === 408 || status === 429;

/** A response body made fit for an error message: one line, bounded. */
export function bodySnippet(body: string, max = 200): string {
  const line = body.replace(/\s+/g, ' ').trim();
  if (line === '') return '(empty body)';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
