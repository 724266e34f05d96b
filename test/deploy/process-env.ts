// What the deployment files are checked against: each process's config schema, and the
// npm scripts a container may run. Shared by the compose, Kubernetes and Dockerfile tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ObjectEntries } from 'valibot';
import { expect } from 'vitest';
import { gatewayEnv, loadGatewayConfig } from '../../gateway/config';
import { commonEnv, databaseEnv, loadConfig } from '../../shared/config';
import { chatWorkerEnv } from '../../worker/config';
import { documentWorkerEnv, loadDocumentWorkerConfig } from '../../worker/document/config';
import { embeddingWorkerEnv, loadEmbeddingWorkerConfig } from '../../worker/embedding/config';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// YAML documents are checked field by field below; their shape is what is being tested.
export type Obj = Record<string, any>;
export type Env = Record<string, string>;

export const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string>; dependencies: Record<string, string> };

/** What each npm script a container may run reads from its environment. */
export const PROCESSES: Record<string, { entries: ObjectEntries; load(env: Env): Obj }> = {
  gateway: { entries: gatewayEnv, load: (env) => loadGatewayConfig(env) },
  worker: { entries: chatWorkerEnv, load: (env) => loadConfig(chatWorkerEnv, env) },
  'worker:document': { entries: documentWorkerEnv, load: (env) => loadDocumentWorkerConfig(env) },
  'worker:embedding': { entries: embeddingWorkerEnv, load: (env) => loadEmbeddingWorkerConfig(env) },
  // shared/db/migrate-cli.ts reads these (it runs on import, so its schema is restated here).
  migrate: { entries: { ...commonEnv, ...databaseEnv }, load: (env) => loadConfig({ ...commonEnv, ...databaseEnv }, env) },
};

/** `npm run X` → X. */
export function npmScript(command: unknown): string {
  expect(Array.isArray(command), `command ${JSON.stringify(command)} must be an exec-form array`).toBe(true);
  const [npm, run, script] = command as string[];
  expect([npm, run], `command ${JSON.stringify(command)} must be npm run <script>`).toEqual(['npm', 'run']);
  expect(Object.keys(packageJson.scripts), `npm script "${script}" used by a deployment file`).toContain(script);
  return script!;
}

/** Checks a process's environment against its config schema: every name known, the whole accepted. */
export function checkEnv(where: string, script: string, env: Env): Obj {
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

export const hostOf = (url: string) => new URL(url).host;
