// deploy/Dockerfile, read as text: its stages, what it copies and installs, against what the
// processes it runs import and what the package's install scripts need.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROCESSES, packageJson, read, ROOT } from './process-env';

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
