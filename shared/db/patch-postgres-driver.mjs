// Postinstall: patches postgres.js 3.4.9 (the latest release) for open bugs that take a
// process down or hang it when a database connection drops:
//  - porsager/postgres#1154, #1208: a deferred write runs after the socket closed and
//    throws from setImmediate (an uncatchable crash);
//  - the teardown paths cancel that deferred write without resetting its state, so the
//    reconnected connection never flushes again (queries hang);
//  - porsager/postgres#1192, #1205, #1223: the array-types query every new connection runs
//    first is not awaited, so a connection terminated at that moment (a database restart,
//    pg_terminate_backend) rejects it with nobody listening: an unhandled rejection that
//    exits the process. Its error reaches the queries of that connection anyway.
// The first two follow the upstream PRs #1168/#1209.
// And for speed: a query takes the idle connection used last (LIFO, as node-postgres's pool
// and PgBouncer do), not the one idle longest. Round-robin over warm connections sends each
// statement to a backend whose CPU caches went cold meanwhile: the send statement, one at a
// time over a pool of 10, cost 870–940 µs of backend CPU instead of 540–590 µs.
// It refuses to run on any other source, so an upgrade makes us look again (and drop this
// file once a fixed release exists).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MARKER = '/* arcyou: patched nextWrite */';
const TYPES_MARKER = '/* arcyou: patched fetchArrayTypes */';
const LIFO_MARKER = '/* arcyou: patched LIFO */';
const root = fileURLToPath(new URL('../../node_modules/postgres/', import.meta.url));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const connectionFixes = [
  [
    'function nextWrite(fn) {\n    const x = socket.write(chunk, fn)',
    `function nextWrite(fn) {\n    ${MARKER}\n    if (!socket) {\n      nextWriteTimer !== null && clearImmediate(nextWriteTimer)\n      chunk = nextWriteTimer = null\n      error(Errors.connection('CONNECTION_CLOSED', options))\n      return false\n    }\n    const x = socket.write(chunk, fn)`,
  ],
  ['    clearImmediate(nextWriteTimer)\n    if (socket) {', '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    if (socket) {'],
  [
    '    clearImmediate(nextWriteTimer)\n    socket.removeListener',
    '    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n    socket.removeListener',
  ],
  ['        return fetchArrayTypes()\n', `        return fetchArrayTypes().catch(() => {}) ${TYPES_MARKER}\n`],
];

const lifo = [
  ['    if (open.length)\n      return go(open.shift(), query)\n', `    if (open.length)\n      return go(open.pop(), query) ${LIFO_MARKER}\n`],
  ['    const c = open.length\n      ? open.shift()\n', `    const c = open.length\n      ? open.pop() ${LIFO_MARKER}\n`],
];

const queuePop = [
  [
    '    push: (x) => (xs.push(x), x),\n',
    `    push: (x) => (xs.push(x), x),\n    pop: () => { ${LIFO_MARKER}\n      const out = xs.pop()\n      if (index === xs.length) {\n        index = 0\n        xs = []\n      }\n      return out\n    },\n`,
  ],
];

const patches = {
  'src/connection.js': connectionFixes,
  'cjs/src/connection.js': connectionFixes,
  'src/index.js': lifo,
  'cjs/src/index.js': lifo,
  'src/queue.js': queuePop,
  'cjs/src/queue.js': queuePop,
};

for (const [file, replacements] of Object.entries(patches)) {
  const path = join(root, file);
  let source = readFileSync(path, 'utf8');
  // Each replacement once: an install patched by an earlier version of this script gets the rest.
  const pending = replacements.filter(([, after]) => !source.includes(after));
  if (pending.length === 0) continue;
  if (version !== '3.4.9')
    throw new Error(`patch-postgres-driver: expected postgres@3.4.9, found ${version}; check whether the fixes are released and update or drop this patch`);
  for (const [before, after] of pending) {
    if (!source.includes(before)) throw new Error(`patch-postgres-driver: ${file} does not contain the expected code; review the patch`);
    source = source.replace(before, after);
  }
  writeFileSync(path, source);
}
