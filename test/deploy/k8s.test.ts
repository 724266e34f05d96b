// The Kubernetes manifests (deploy/), checked without a cluster: every object against the
// Kubernetes OpenAPI schemas (kubernetes-models), and against the app: every variable set
// is one the process's config schema knows and accepts, every selector finds its pods,
// every reference resolves.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { checkEnv, hostOf, npmScript, read, ROOT, type Env, type Obj } from './process-env';

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
