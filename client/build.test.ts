// The browser build: one ES module with a source map, nothing from Node in it, and it
// exports the SDK.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildClient } from './build';

describe('client build', () => {
  it('bundles the SDK as a browser ES module with a source map', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arcyou-client-'));
    try {
      const file = await buildClient(join(dir, 'arcyou-chat.js'));
      const code = await readFile(file, 'utf8');
      expect(code).not.toMatch(/\brequire\(|from ["']node:|from ["'](ws|crypto|net|http)["']/);
      expect(code).toContain('//# sourceMappingURL=arcyou-chat.js.map');
      const map = JSON.parse(await readFile(`${file}.map`, 'utf8')) as { sources: string[] };
      expect(map.sources.some((s) => s.endsWith('room-stream.ts'))).toBe(true);
      const sdk = await import(pathToFileURL(file).href);
      expect(typeof sdk.createChatClient).toBe('function');
      expect(typeof sdk.ChatError).toBe('function');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
