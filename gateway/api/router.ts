// Routes of the HTTP API: a method and a path pattern (`/v1/rooms/:room_id`) per handler.

export interface Route<H> {
  method: string;
  segments: string[];
  handler: H;
}

export interface Match<H> {
  handler: H;
  params: Record<string, string>;
}

export function route<H>(method: string, pattern: string, handler: H): Route<H> {
  return { method, segments: pattern.split('/').filter(Boolean), handler };
}

/** The route for a request, `method_not_allowed` if the path exists for other methods only, or null. */
export function matchRoute<H>(routes: readonly Route<H>[], method: string, path: string): Match<H> | 'method_not_allowed' | null {
  const parts = path.split('/').filter(Boolean);
  let pathMatched = false;
  for (const r of routes) {
    if (r.segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length && ok; i++) {
      const segment = r.segments[i]!;
      if (segment.startsWith(':')) {
        try {
          params[segment.slice(1)] = decodeURIComponent(parts[i]!);
        } catch {
          ok = false;
        }
      } else ok = segment === parts[i];
    }
    if (!ok) continue;
    pathMatched = true;
    if (r.method === method) return { handler: r.handler, params };
  }
  return pathMatched ? 'method_not_allowed' : null;
}
