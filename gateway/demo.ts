// The demo chat page (DEMO_UI): static files from gateway/demo/, read once at start-up,
// the client SDK built for browsers from client/ (the page runs on it), and the demo room
// and users that `npm start` seeds, as the page's presets.
import { readFileSync } from 'node:fs';
import { bundleClient } from '../client/build';
import { DEMO_ROOM, DEMO_USERS } from '../shared/demo-room';
import type { UWS } from './uws';

const DEMO_DIR = new URL('./demo/', import.meta.url);

interface Asset {
  body: Buffer;
  type: string;
}

const asset = (file: string, type: string): Asset => ({ body: readFileSync(new URL(file, DEMO_DIR)), type });

// The page talks only to the gateway it came from.
const SECURITY_HEADERS: Array<[string, string]> = [
  ['content-security-policy', "default-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; frame-ancestors 'none'"],
  ['x-content-type-options', 'nosniff'],
  ['cache-control', 'no-cache'],
];

function serve(res: UWS.HttpResponse, { body, type }: Asset): void {
  res.cork(() => {
    res.writeStatus('200 OK');
    res.writeHeader('content-type', type);
    for (const [name, value] of SECURITY_HEADERS) res.writeHeader(name, value);
    res.end(body);
  });
}

export const DEMO_PATH = '/demo';

/** Registers GET /demo (and its files) on the gateway's uWS app. */
export async function serveDemo(app: UWS.TemplatedApp): Promise<void> {
  const page = asset('index.html', 'text/html; charset=utf-8');
  const sdk: Asset = { body: Buffer.from(await bundleClient()), type: 'text/javascript; charset=utf-8' };
  const files: Record<string, Asset> = {
    [DEMO_PATH]: page,
    [`${DEMO_PATH}/`]: page,
    [`${DEMO_PATH}/app.js`]: asset('app.js', 'text/javascript; charset=utf-8'),
    [`${DEMO_PATH}/style.css`]: asset('style.css', 'text/css; charset=utf-8'),
    [`${DEMO_PATH}/arcyou-chat.js`]: sdk,
    [`${DEMO_PATH}/presets.json`]: {
      body: Buffer.from(JSON.stringify({ room: DEMO_ROOM, users: DEMO_USERS })),
      type: 'application/json',
    },
  };
  for (const [path, file] of Object.entries(files)) app.get(path, (res) => serve(res, file));
}
