// `npm run bench`: the full run. Fan-out scenarios (ours and Socket.IO, interleaved),
// worker throughput, micro-benchmarks; writes bench/results/<name>.{json,md,svg}.
//
//   npm run bench -- --name=reference            # everything (~10 min on 2 cores)
//   npm run bench -- --only=fanout --fanouts=10,100 --measure-ms=3000
//   npm run bench -- --only=worker --batches=500 --workers=1,2
//   npm run bench -- --only=micro
//   npm run bench -- --only=cluster --fanouts=10,100     # fan-out only, one Redis vs a 3-master Redis Cluster
//   npm run bench -- --only=connections --connections=100000   # sockets held by one gateway
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { adminDatabaseUrl, machineInfo, oursEnv, roomsFor, sharedRedisUrl } from './lib/bench-env';
import { chartSpec, evaluateTargets, renderMarkdown, type RedisClusterResult, type RunResults } from './lib/report';
import { renderChart } from './lib/svg-chart';
import { runConnections, type ConnectionsResult } from './scenarios/connections';
import { runFanoutGroup, type PhaseKind, type PhaseResult } from './scenarios/fanout';
import { runMicro, type MicroResult } from './scenarios/micro';
import { runWorkerConfig, type WorkerResult } from './scenarios/worker-throughput';
import { createBenchDatabase } from './system/database';
import { startPrivateRedis } from './system/processes';
import { startRedisCluster } from '../test/support/redis-cluster';
import type { OurClient, System } from './load/wire';

const { values: args } = parseArgs({
  options: {
    name: { type: 'string' },
    only: { type: 'string', default: 'fanout,worker,micro' },
    fanouts: { type: 'string', default: '1,10,100,1000' },
    systems: { type: 'string', default: 'ours,socketio' },
    phases: { type: 'string', default: 'fanout/fixed,fanout/saturation,full/fixed,full/saturation' },
    'warmup-ms': { type: 'string', default: '2000' },
    'measure-ms': { type: 'string', default: '5000' },
    'drain-ms': { type: 'string', default: '2000' },
    clients: { type: 'string', default: '3' },
    /** How the load generator talks to our gateway: frames (raw, the default) or sdk (the client SDK, as an application). */
    'our-client': { type: 'string', default: 'frames' },
    /** Sent msgs/s over all rooms in fixed-rate phases (default: 1,000/s up to fan-out 20, then 20,000 deliveries/s). */
    rate: { type: 'string' },
    batches: { type: 'string', default: '1,100,500' },
    workers: { type: 'string', default: '1,2,4' },
    backlog: { type: 'string', default: '100000' },
    history: { type: 'string', default: '200000' },
    'worker-rooms': { type: 'string', default: '1000' },
    'skip-cold': { type: 'boolean', default: false },
    'worker-cap-ms': { type: 'string', default: '15000' },
    connections: { type: 'string', default: '100000' },
  },
});

const list = (s: string) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
const numbers = (s: string) => list(s).map(Number);
const sections = new Set(list(args.only));
const name = args.name ?? `run-${new Date().toISOString().slice(0, 16).replace(/[-:T]/g, '')}`;
const log = (line: string) => process.stdout.write(`${line}\n`);

const started = machineInfo();
const startedAt = new Date().toISOString();
const env = oursEnv();
const timing = { warmupMs: Number(args['warmup-ms']), measureMs: Number(args['measure-ms']), drainMs: Number(args['drain-ms']) };
const ourClient = args['our-client'] as OurClient;
if (ourClient !== 'frames' && ourClient !== 'sdk') throw new Error(`--our-client must be frames or sdk (got ${JSON.stringify(ourClient)})`);
const phases: PhaseKind[] = list(args.phases).map((p) => {
  const [path, load] = p.split('/') as [PhaseKind['path'], PhaseKind['load']];
  return { path, load };
});
log(
  `bench ${name}: ${started.cpus} cpus, load ${started.load.map((x) => x.toFixed(2)).join(' ')}; our env ${JSON.stringify(env)}; our load clients speak ${ourClient === 'sdk' ? 'through the client SDK' : 'raw frames'}`,
);

const db = await createBenchDatabase(adminDatabaseUrl(), 'run');
const redis = await startPrivateRedis(sharedRedisUrl());
const fanoutResults: PhaseResult[] = [];
const workerResults: WorkerResult[] = [];
const clusterResults: RedisClusterResult[] = [];
let connectionsResult: ConnectionsResult | null = null;
let microResults: MicroResult[] = [];
try {
  if (sections.has('fanout')) {
    const systems = list(args.systems) as System[];
    for (const [i, fanout] of numbers(args.fanouts).entries()) {
      // Alternate who goes first, so slow drift in the machine's load favours neither.
      const order = i % 2 === 0 ? systems : [...systems].reverse();
      for (const system of order) {
        log(`fan-out ${fanout}, ${system}`);
        fanoutResults.push(
          ...(await runFanoutGroup({
            system,
            fanout,
            rooms: roomsFor(fanout),
            phases,
            timing,
            clients: Number(args.clients),
            ourClient,
            ...(args.rate ? { offeredRate: Number(args.rate) } : {}),
            sql: db.sql,
            databaseUrl: db.url,
            redisUrl: redis.url,
            oursEnv: env,
            log,
          })),
        );
      }
    }
  }
  if (sections.has('cluster')) {
    const cluster = await startRedisCluster();
    try {
      const targets = [
        { redis: 'one Redis', url: redis.url },
        { redis: 'Redis Cluster, 3 masters', url: `redis+cluster://${cluster.seeds}` },
      ] as const;
      for (const [i, fanout] of numbers(args.fanouts).entries()) {
        for (const target of i % 2 === 0 ? targets : [...targets].reverse()) {
          log(`fan-out ${fanout}, ours on ${target.redis}`);
          const [phase] = await runFanoutGroup({
            system: 'ours',
            fanout,
            rooms: roomsFor(fanout),
            phases: [{ path: 'fanout', load: 'saturation' }],
            timing,
            clients: Number(args.clients),
            ourClient,
            sql: db.sql,
            databaseUrl: db.url,
            redisUrl: target.url,
            oursEnv: { ...env, PUBSUB_MODE: 'perconv' },
            log,
          });
          clusterResults.push({ redis: target.redis, phase: phase! });
        }
      }
    } finally {
      await cluster.destroy();
    }
  }
  if (sections.has('connections')) {
    log(`connections: ${args.connections} sockets on one gateway`);
    connectionsResult = await runConnections({
      sockets: Number(args.connections),
      clients: Number(args.clients),
      sql: db.sql,
      databaseUrl: db.url,
      redisUrl: redis.url,
      oursEnv: env,
      idleMs: 20_000,
      trickleMs: 10_000,
      trickleRate: 2,
      log,
    });
  }
  if (sections.has('worker')) {
    const configs = numbers(args.batches).flatMap((batchSize) =>
      numbers(args.workers).map((workers) => ({ batchSize, workers, history: Number(args.history) })),
    );
    // One cold-table run: what a backlog costs when the planner's statistics are stale.
    if (!args['skip-cold']) configs.push({ batchSize: Math.max(...numbers(args.batches)), workers: 1, history: 0 });
    for (const { history, ...config } of configs) {
      const result = await runWorkerConfig(db.sql, db.url, redis.url, config, {
        backlog: Number(args.backlog),
        history,
        rooms: Number(args['worker-rooms']),
        capMs: Number(args['worker-cap-ms']),
        env: env.POLL_INTERVAL_MS ? { POLL_INTERVAL_MS: env.POLL_INTERVAL_MS } : {},
      });
      log(
        `worker batch ${config.batchSize} × ${config.workers}${history ? '' : ' (cold table)'}: ${result.published} rows in ${result.seconds.toFixed(2)} s = ${result.rowsPerSec.toFixed(0)} rows/s, ${result.workerCpuUsPerRow.toFixed(1)} µs CPU/row${result.drained ? '' : ' (time cap)'}, load ${result.load1.toFixed(1)}`,
      );
      workerResults.push(result);
    }
  }
  if (sections.has('micro')) {
    microResults = await runMicro();
    for (const m of microResults) log(`micro ${m.name}: ${m.nsPerOp.toFixed(0)} ns/op`);
  }
} finally {
  await redis.stop();
  await db.drop();
}

const finished = machineInfo();
const results: RunResults = {
  name,
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: { cpus: started.cpus, model: started.model, node: started.node, loadAtStart: started.load, loadAtEnd: finished.load },
  settings: {
    ...timing,
    clients: Number(args.clients),
    ourClient,
    oursEnv: env,
    roomsPerFanout: Object.fromEntries(numbers(args.fanouts).map((f) => [f, roomsFor(f)])),
    workerBacklog: Number(args.backlog),
    workerHistory: Number(args.history),
    workerRooms: Number(args['worker-rooms']),
  },
  fanout: fanoutResults,
  ...(clusterResults.length ? { redisCluster: clusterResults } : {}),
  ...(connectionsResult ? { connections: connectionsResult } : {}),
  worker: workerResults,
  micro: microResults,
};
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/${name}.json`, JSON.stringify(results, null, 2) + '\n');
writeFileSync(`bench/results/${name}.md`, renderMarkdown(results));
if (fanoutResults.length > 0) writeFileSync(`bench/results/${name}.svg`, renderChart(chartSpec(results)));
log('');
for (const t of evaluateTargets(results)) log(`target ${t.met === null ? '—  ' : t.met ? 'MET' : 'MISSED'}: ${t.target}: ${t.measured}`);
log(`wrote bench/results/${name}.{json,md${fanoutResults.length > 0 ? ',svg' : ''}}`);
