// Finds PostgreSQL and Redis for the suite: TEST_DATABASE_URL / TEST_REDIS_URL, else the
// local services; when neither answers and a Docker engine is present, starts them with
// testcontainers. Otherwise the suite fails, saying what to start: it never skips.
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

function answers(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || defaultPort), timeout: 1500 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

const dockerPresent = () => Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');

export default async function setup(project: TestProject) {
  let databaseUrl = process.env.TEST_DATABASE_URL ?? DEFAULT_DATABASE_URL;
  let redisUrl = process.env.TEST_REDIS_URL ?? DEFAULT_REDIS_URL;
  const stops: Array<() => Promise<unknown>> = [];

  const [pgUp, redisUp] = await Promise.all([answers(databaseUrl, 5432), answers(redisUrl, 6379)]);
  if ((!pgUp || !redisUp) && dockerPresent()) {
    if (!pgUp) {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const pg = await new PostgreSqlContainer('postgres:16-alpine').start();
      databaseUrl = pg.getConnectionUri();
      stops.push(() => pg.stop());
    }
    if (!redisUp) {
      const { GenericContainer } = await import('testcontainers');
      const redis = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
      redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
      stops.push(() => redis.stop());
    }
  } else if (!pgUp || !redisUp) {
    const missing = [!pgUp && `PostgreSQL at ${databaseUrl} (set TEST_DATABASE_URL)`, !redisUp && `Redis at ${redisUrl} (set TEST_REDIS_URL)`].filter(Boolean);
    throw new Error(
      `The test suite needs real services and cannot reach: ${missing.join('; ')}.\n` +
        'Start them (e.g. `pg_ctlcluster 15 main start`, `redis-server --daemonize yes`) or run a Docker engine so the suite can start containers.',
    );
  }

  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', redisUrl);
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}
