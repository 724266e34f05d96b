// A private Redis Cluster for tests and the bench: Debian's redis-server in cluster mode,
// 3 masters with a replica each, made with `redis-cli --cluster create`. A master can be
// killed; its replica is then promoted (cluster-node-timeout is short, so within seconds).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnProcess, type RunningProcess } from './child-process';
import { redisServerArgs, waitForPort } from './private-services';
import { freePort } from '../../shared/net/free-port';

export interface RedisClusterNode {
  port: number;
  /** Its process has been killed. */
  killed: boolean;
}

export interface PrivateRedisCluster {
  nodes: RedisClusterNode[];
  /** `127.0.0.1:port` of every node, comma-separated (REDIS_CLUSTER_NODES). */
  seeds: string;
  /** The port of the master that serves `slot` now. */
  masterOf(slot: number): number;
  /** SIGKILLs the master serving `slot`, waits until its replica serves the slot; returns the killed port. */
  killMasterOf(slot: number): Promise<number>;
  /**
   * Resharding: `slots` go to the master on `toPort` (no keys to migrate: the tests keep
   * none); resolves once every node agrees.
   */
  moveSlots(slots: readonly number[], toPort: number): Promise<void>;
  destroy(): Promise<void>;
}

const NODE_TIMEOUT_MS = 1000;

/** redis-cli, bounded: a command that hangs fails the test instead of stalling the run. */
const CLI_TIMEOUT_MS = 60_000;

function cli(port: number, ...args: string[]): string {
  const result = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: CLI_TIMEOUT_MS });
  if (result.status !== 0) throw new Error(`redis-cli -p ${port} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

interface SlotRange {
  start: number;
  end: number;
  port: number;
  replicas: number;
}

/** CLUSTER SLOTS as seen by node `port`: slot ranges, the port of the master serving each and its replica count. */
function slotRanges(port: number): SlotRange[] {
  const raw = spawnSync('redis-cli', ['-p', String(port), '--json', 'cluster', 'slots'], { encoding: 'utf8', timeout: CLI_TIMEOUT_MS });
  if (raw.status !== 0) throw new Error(raw.stderr);
  // Each entry: start, end, [ip, port, id, meta] of the master, then one such array per replica.
  const entries = JSON.parse(raw.stdout) as Array<[number, number, [string, number], ...Array<[string, number]>]>;
  return entries.map(([start, end, master, ...replicas]) => ({ start, end, port: master[1], replicas: replicas.length }));
}

async function until(what: string, check: () => boolean, timeoutMs = 30_000, state: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok: boolean;
    try {
      ok = check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis cluster: ${what} within ${timeoutMs} ms${describe(state)}`);
    await sleep(100);
  }
}

/** What `state` says, for a failure message; never throws. */
function describe(state: () => string): string {
  try {
    const text = state();
    return text ? `\n${text}` : '';
  } catch (err) {
    return `\n(state unknown: ${(err as Error).message})`;
  }
}

/** Node `port`'s view, for a failure message: its state, its epochs, and who serves each of `slots`. */
function view(port: number, slots: readonly number[]): string {
  const info = cli(port, 'cluster', 'info');
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  const ranges = slotRanges(port);
  const owners = slots.map((slot) => `${slot}→${ranges.find((r) => r.start <= slot && slot <= r.end)?.port ?? 'none'}`);
  const role = cli(port, 'role').split('\n')[0];
  return `${role}, ${field('cluster_state')}, my epoch ${field('cluster_my_epoch')}, current epoch ${field('cluster_current_epoch')}, slots ${owners.join(' ')}`;
}

export async function startRedisCluster(masters = 3): Promise<PrivateRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'arcyou-redis-cluster-'));
  // Each node's client port and cluster-bus port, all free and distinct. The bus port is set
  // explicitly: its default, port + 10000, may be another process's port (a parallel
  // cluster's), and redis-cli would then wait forever on a port that speaks another protocol.
  const picked = new Set<number>();
  while (picked.size < masters * 4) picked.add(await freePort());
  const all = [...picked];
  const ports = all.slice(0, masters * 2);
  const busPorts = all.slice(masters * 2);
  const children = new Map<number, RunningProcess>();
  const nodes: RedisClusterNode[] = ports.map((port) => ({ port, killed: false }));
  ports.forEach((port, i) => {
    const args = redisServerArgs(port, [
      '--cluster-port',
      String(busPorts[i]),
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, `nodes-${port}.conf`),
      '--cluster-node-timeout',
      String(NODE_TIMEOUT_MS),
      '--dir',
      dir,
    ]);
    children.set(port, spawnProcess({ command: 'redis-server', args }));
  });
  const live = () => nodes.filter((n) => !n.killed);
  const healthy = () => live().every((n) => cli(n.port, 'cluster', 'info').includes('cluster_state:ok'));
  const killAll = async () => {
    for (const node of children.values()) await node.stop(0, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(ports.map((port) => waitForPort(port)));
    cli(ports[0]!, '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes');
    // Replicas attach a few seconds after the create: without one, a killed master is not replaced.
    await until('every node reports cluster_state:ok and every master has a replica', () => healthy() && slotRanges(ports[0]!).every((r) => r.replicas > 0));
  } catch (err) {
    await killAll(); // nothing outlives a cluster that did not come up
    throw err;
  }

  const masterOf = (slot: number): number => {
    const from = live()[0]!.port;
    const range = slotRanges(from).find((r) => r.start <= slot && slot <= r.end);
    if (!range) throw new Error(`slot ${slot} is not served`);
    return range.port;
  };

  return {
    nodes,
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
    masterOf,
    async killMasterOf(slot) {
      const port = masterOf(slot);
      await children.get(port)!.stop(0, 'SIGKILL');
      nodes.find((n) => n.port === port)!.killed = true;
      await until(`a replica serves slot ${slot} instead of ${port}`, () => masterOf(slot) !== port && healthy());
      return port;
    },
    async moveSlots(slots, toPort) {
      const owners = new Set(slots.map((slot) => masterOf(slot)));
      const toId = cli(toPort, 'cluster', 'myid').trim();
      const commands = slots.map((slot) => `CLUSTER SETSLOT ${slot} NODE ${toId}`).join('\n') + '\n';
      // The new owner first, then the old ones, then the other masters (as Redis's resharding does).
      const masters = [...new Set(slotRanges(toPort).map((r) => r.port)), toPort];
      const order = [toPort, ...owners, ...masters.filter((p) => p !== toPort && !owners.has(p))];
      // A slot goes to the master with the highest config epoch claiming it: replicas take no
      // SETSLOT and learn the move by gossip only from such a master, and a new owner whose
      // epoch is lower gives the slot back when the old owner's gossip claims it before the old
      // owner's own SETSLOT (seen: the new owner then served it nowhere, and the old owner named
      // the new one). Resharding through IMPORTING bumps the epoch at the SETSLOT; this shortcut
      // bumps it first.
      cli(toPort, 'cluster', 'bumpepoch');
      for (const port of new Set(order)) {
        const result = spawnSync('redis-cli', ['-p', String(port)], { input: commands, encoding: 'utf8', timeout: CLI_TIMEOUT_MS });
        if (result.status !== 0 || /ERR/.test(result.stdout)) throw new Error(`CLUSTER SETSLOT on ${port} failed: ${result.stdout}${result.stderr}`);
      }
      await until(
        'every node sees the slots moved',
        () => live().every((n) => slots.every((slot) => slotRanges(n.port).some((r) => r.start <= slot && slot <= r.end && r.port === toPort))) && healthy(),
        30_000,
        () =>
          live()
            .map((n) => `node ${n.port}: ${view(n.port, slots)}`)
            .join('\n'),
      );
    },
    destroy: killAll,
  };
}
