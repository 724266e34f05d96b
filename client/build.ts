// The SDK for browsers: one ES module with a source map, `platform: browser` so that a
// Node-only import fails the build. `npm run build:client` writes dist/arcyou-chat.js (+ .map);
// the gateway's demo page builds it in memory (gateway/demo.ts).
import { build, type BuildOptions } from 'esbuild';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./index.ts', import.meta.url));
const OPTIONS: BuildOptions = { entryPoints: [ENTRY], bundle: true, format: 'esm', platform: 'browser', target: 'es2020', logLevel: 'silent' };

/** Writes the bundle and its source map to `outfile` (+ .map); returns the path. */
export async function buildClient(outfile = fileURLToPath(new URL('../dist/arcyou-chat.js', import.meta.url))): Promise<string> {
  await build({ ...OPTIONS, sourcemap: true, outfile });
  return outfile;
}

/** The bundle in memory, its source map inline. */
export async function bundleClient(): Promise<Uint8Array> {
  const result = await build({ ...OPTIONS, sourcemap: 'inline', write: false });
  return result.outputFiles![0]!.contents;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${await buildClient()}`);
}
