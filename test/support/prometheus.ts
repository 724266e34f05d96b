// Reads a Prometheus text exposition the way a scraper would, for tests that check
// that metrics move.
import { setTimeout as sleep } from 'node:timers/promises';
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

export async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  if (!res.headers.get('content-type')?.startsWith('text/plain')) throw new Error(`GET ${url} is not the Prometheus text format`);
  return parseExposition(await res.text());
}

/** The sum of the samples named `name` whose labels include `labels` (0 when none). */
export function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

/** Scrapes until `check` holds for the samples (metrics move asynchronously), or fails with the last values. */
export async function scrapeUntil(url: string, check: (samples: Sample[]) => boolean, timeoutMs = 10_000): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const samples = await scrape(url);
    if (check(samples)) return samples;
    if (Date.now() > deadline) {
      const ours = samples.filter((s) => s.name.startsWith('arcyou_')).map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`);
      throw new Error(`metrics at ${url} did not reach the expected values:\n${ours.join('\n')}`);
    }
    await sleep(50);
  }
}
