// `npm run build:client`: the SDK as one browser ES module with a source map,
// dist/arcyou-chat.js (+ .map). Node's modules are refused: the core must not need them.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

export async function buildClient(outfile = fileURLToPath(new URL('../dist/arcyou-chat.js', import.meta.url))) {
  await build({
    entryPoints: [fileURLToPath(new URL('./index.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    sourcemap: true,
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`built ${await buildClient()}`);
}
