// The alert rules (deploy/prometheus/alerts.yml) with Prometheus's own tool: they load, each
// alert fires on the series it is for and not on healthy ones (alerts.test.yml), and every
// metric they name is one the processes export.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const DIR = new URL('../deploy/prometheus/', import.meta.url).pathname;
const PROMTOOL = process.env.PROMTOOL_PATH ?? 'promtool';

async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(PROMTOOL, args, { cwd: DIR });
    return stdout + stderr;
  } catch (err) {
    const e = err as { code?: string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error(`no ${PROMTOOL}: install Debian's prometheus (apt-get install -y prometheus) or set PROMTOOL_PATH`, { cause: err });
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

describe('Prometheus alert rules', () => {
  it('load, and pass their unit tests (promtool test rules)', async () => {
    expect(await promtool('check', 'rules', 'alerts.yml')).toContain('SUCCESS: 8 rules found');
    expect(await promtool('test', 'rules', 'alerts.test.yml')).toContain('SUCCESS');
  });

  it('name only metrics the gateway and workers export', () => {
    const rules = readFileSync(`${DIR}alerts.yml`, 'utf8');
    const exported = ['gateway/metrics.ts', 'worker/metrics.ts'].map((file) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')).join('\n');
    const named = new Set([...rules.matchAll(/\barcyou_[a-z_]+/g)].map(([name]) => name.replace(/_bucket$/, '')));
    expect(named.size).toBeGreaterThan(5);
    for (const name of named) expect(exported, `${name} is not a metric of ours`).toContain(`name: '${name}'`);
  });
});
