// Local stand-ins for the public base images the compose stack names (no image registry
// is reachable from these machines): debian:bookworm-slim from debootstrap, and on top of
// it node:20-bookworm-slim (this machine's Node.js and npm), postgres:16-bookworm and
// redis:7-bookworm (Debian's packages behind small entrypoints; test/compose/standins/).
// The Debian image carries this machine's CA bundle: the package registry is reached
// through a TLS proxy whose CA is in it. An image already there is kept.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './child-process';

const STANDINS = join(ROOT, 'test/compose/standins');

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout?.slice(-3000)}\n${result.stderr?.slice(-3000)}`);
  return result.stdout;
}

const hasImage = (tag: string) => spawnSync('docker', ['image', 'inspect', tag], { stdio: 'ignore' }).status === 0;

function buildDebian(log: (line: string) => void): void {
  const rootfs = mkdtempSync(join(tmpdir(), 'arcyou-rootfs-'));
  try {
    log('debootstrap bookworm (minbase)');
    run('debootstrap', ['--variant=minbase', 'bookworm', rootfs, 'http://deb.debian.org/debian']);
    mkdirSync(join(rootfs, 'etc/ssl/certs'), { recursive: true });
    cpSync('/etc/ssl/certs/ca-certificates.crt', join(rootfs, 'etc/ssl/certs/ca-certificates.crt'));
    run('bash', ['-c', `tar -C ${JSON.stringify(rootfs)} -c . | docker import -c 'CMD ["bash"]' - debian:bookworm-slim`]);
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

function buildNode(log: (line: string) => void): void {
  const context = mkdtempSync(join(tmpdir(), 'arcyou-node-image-'));
  try {
    log('node:20-bookworm-slim from this machine\u2019s Node.js');
    cpSync(join(STANDINS, 'node/Dockerfile'), join(context, 'Dockerfile'));
    cpSync(process.execPath, join(context, 'node'));
    cpSync('/usr/lib/node_modules/npm', join(context, 'npm'), { recursive: true });
    cpSync(existsSync('/usr/etc/npmrc') ? '/usr/etc/npmrc' : '/dev/null', join(context, 'npmrc'));
    run('docker', ['build', '-q', '-t', 'node:20-bookworm-slim', context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/** Builds whichever stand-in is missing. Needs a running Docker engine, debootstrap and the Debian mirror. */
export function buildStandInImages(log: (line: string) => void = () => {}): void {
  if (!hasImage('debian:bookworm-slim')) buildDebian(log);
  if (!hasImage('node:20-bookworm-slim')) buildNode(log);
  for (const [tag, dir] of [
    ['postgres:16-bookworm', 'postgres'],
    ['redis:7-bookworm', 'redis'],
  ] as const) {
    if (hasImage(tag)) continue;
    log(`${tag} from Debian's package`);
    run('docker', ['build', '-q', '-t', tag, join(STANDINS, dir)]);
  }
}
