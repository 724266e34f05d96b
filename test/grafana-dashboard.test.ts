// The Grafana dashboard (deploy/grafana/arcyou.json) against a real Prometheus (Debian's),
// scraping a gateway process and a chat-worker process under traffic: every panel query
// evaluates without error and returns data. A panel whose metric was renamed, or whose
// labels never occur, fails here.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnProcess, startGatewayProcess, startWorkerProcess, type RunningProcess } from './support/child-process';
import { waitForPort } from './support/private-services';
import { membersInRoom } from './support/room-members';
import { createTestDatabase, redisUrl, type TestDatabase } from './support/services';
import { freePort } from '../shared/net/free-port';

const PROMETHEUS = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';
const DASHBOARD = new URL('../deploy/grafana/arcyou.json', import.meta.url);

interface Panel {
  title: string;
  targets: Array<{ expr: string }>;
}

describe('Grafana dashboard', () => {
  let db: TestDatabase;
  let gateway: RunningProcess & { port: number };
  let worker: RunningProcess;
  let prometheus: RunningProcess | null = null;
  let promPort: number;
  let dir: string;

  const query = async (expr: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> =>
    (await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as never;

  beforeAll(async () => {
    if (!existsSync(PROMETHEUS)) throw new Error(`no Prometheus at ${PROMETHEUS}: install Debian's (apt-get install -y prometheus) or set PROMETHEUS_PATH`);
    db = await createTestDatabase();
    const env = { DATABASE_URL: db.url, REDIS_URL: redisUrl(), LOG_LEVEL: 'info', POLL_INTERVAL_MS: '100' };
    const workerMetricsPort = await freePort();
    [gateway, worker] = await Promise.all([
      startGatewayProcess(env),
      startWorkerProcess({ ...env, METRICS_PORT: String(workerMetricsPort), METRICS_HOST: '127.0.0.1' }),
    ]);
    dir = mkdtempSync(join(tmpdir(), 'arcyou-prometheus-'));
    const config = [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      `  - { job_name: arcyou-gateway, static_configs: [{ targets: ['127.0.0.1:${gateway.port}'] }] }`,
      `  - { job_name: arcyou-worker, static_configs: [{ targets: ['127.0.0.1:${workerMetricsPort}'] }] }`,
    ].join('\n');
    writeFileSync(join(dir, 'prometheus.yml'), config);
    promPort = await freePort();
    prometheus = spawnProcess({
      command: PROMETHEUS,
      args: [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
    });
    await waitForPort(promPort, 30_000);
  }, 60_000);

  afterAll(async () => {
    prometheus?.kill();
    gateway?.child.kill('SIGKILL');
    worker?.child.kill('SIGKILL');
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has every panel query return data from a gateway and a worker under traffic', async () => {
    const panels = (JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] }).panels;
    expect(panels.length).toBeGreaterThan(10);
    // Both targets scraped.
    for (let i = 0; i < 100; i++) {
      const up = await query('sum(up)');
      if ((up.data?.result[0] as { value?: [number, string] } | undefined)?.value?.[1] === '2') break;
      await sleep(200);
    }

    // Traffic: sends, a refused frame, a removal for the worker to publish, a closed socket.
    const { roomId, users, clients } = await membersInRoom(db.sql, gateway.port, 3);
    for (let i = 0; i < 20; i++) await clients[i % 3]!.request({ op: 'send', room_id: roomId, content: { text: `m${i}` } });
    clients[0]!.sendRaw('not json');
    await db.sql`UPDATE arcyou_chat_members SET deleted_at = now() WHERE room_id = ${roomId} AND user_id = ${users[2]!}`;
    clients[1]!.close();

    const empty = async () => {
      const failing: string[] = [];
      for (const panel of panels) {
        for (const { expr } of panel.targets) {
          const answer = await query(expr);
          if (answer.status !== 'success') failing.push(`${panel.title}: ${answer.error}`);
          else if (!answer.data!.result.length) failing.push(`${panel.title}: no data for ${expr}`);
        }
      }
      return failing;
    };
    let failing = await empty();
    for (let i = 0; i < 60 && failing.length; i++) {
      await sleep(500);
      failing = await empty();
    }
    expect(failing).toEqual([]);
    for (const c of clients) c.close();
  }, 90_000);
});
