// What `npm start` prints once it is ready: where to connect, how to get a token, a room
// to try. Plain text for people; test/standalone.test.ts reads it too, so keep the labels.
import { DEV_PLACEHOLDER_KEY } from '../gateway/config';
import type { DemoUser } from '../shared/demo-room';

export const READY_LINE = 'ArcYou realtime is ready.';

export interface BannerFacts {
  host: string;
  port: number;
  demoUi: boolean;
  /** Embedded PostgreSQL's data folder, or null when DATABASE_URL was given. */
  embeddedDataDir: string | null;
  databaseUrl: string;
  redisUrl: string | null;
  pubsubMode: string;
  jwtPublicKey: string;
  /** The server API: a development key made by `npm start` (and where it is kept), keys from SERVER_API_KEYS, or off. */
  serverApi: { devKey: string; keyFile: string } | 'configured' | 'off';
  demo: { roomId: string; users: readonly DemoUser[] } | null;
}

/** A host to put in a URL people click: a wildcard listen address is reached over loopback. */
export function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** The URL with its password masked (the embedded server's fixed local one is printed as is). */
export function withoutPassword(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

export function renderBanner(facts: BannerFacts): string {
  const base = `${connectHost(facts.host)}:${facts.port}`;
  const devAuth = facts.jwtPublicKey === DEV_PLACEHOLDER_KEY;
  const lines = [
    '',
    READY_LINE,
    `  WebSocket    ws://${base}/`,
    ...(facts.demoUi ? [`  Demo page    http://${base}/demo   (open it twice, as two users)`] : []),
    `  Health       http://${base}/health   metrics: http://${base}/metrics`,
    facts.embeddedDataDir
      ? `  PostgreSQL   embedded, ${facts.databaseUrl}\n               data kept in ${facts.embeddedDataDir} (delete it to start afresh)`
      : `  PostgreSQL   ${withoutPassword(facts.databaseUrl)}`,
    facts.redisUrl
      ? `  Bus          Redis ${withoutPassword(facts.redisUrl)} (PUBSUB_MODE=${facts.pubsubMode})`
      : '  Bus          in-process: gateway and chat worker share this process (set REDIS_URL to use Redis)',
    devAuth
      ? '  Tokens       development mode (JWT_PUBLIC_KEY=dev-placeholder): any user UUID is its own token'
      : '  Tokens       RS256 JWTs signed for the key in JWT_PUBLIC_KEY, user id in `sub`',
    typeof facts.serverApi === 'object'
      ? `  Server API   http://${base}/v1/…  Authorization: Bearer ${facts.serverApi.devKey}\n               (a development key, kept in ${facts.serverApi.keyFile}; set SERVER_API_KEYS in production)`
      : facts.serverApi === 'configured'
        ? `  Server API   http://${base}/v1/…  with a key from SERVER_API_KEYS`
        : '  Server API   off (set SERVER_API_KEYS)',
  ];
  if (facts.demo) {
    const [first] = facts.demo.users;
    const width = Math.max(...facts.demo.users.map((u) => u.name.length));
    lines.push(`  Demo room    ${facts.demo.roomId}`);
    facts.demo.users.forEach((user, i) => lines.push(`  ${i === 0 ? 'Demo users' : '          '}   ${user.name.padEnd(width)}  ${user.id}`));
    if (first && devAuth) {
      lines.push(
        '  Try it       connect to the WebSocket and send, one frame at a time:',
        `                 {"op":"auth","token":"${first.id}"}`,
        `                 {"op":"join","room_id":"${facts.demo.roomId}"}`,
        `                 {"op":"send","room_id":"${facts.demo.roomId}","content":{"text":"hello"}}`,
      );
    }
  }
  lines.push('Stop with Ctrl-C.', '');
  return lines.join('\n');
}
