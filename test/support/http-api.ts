/** A JSON reply of the HTTP API: its status and parsed body (null when empty). */
export interface ApiReply {
  status: number;
  body: any;
}

/**
 * Calls the gateway's HTTP API on `port` as `token` (a server key or a user token; null:
 * no Authorization header). A string body is sent as it is, anything else as JSON.
 */
export function apiCaller(port: number, token: string | null) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiReply> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}
