// Process entry points: config errors print a plain message and exit 2; anything
// else is logged and exits 1. Long-running processes register their shutdown here.
import { ConfigError } from './config';

export function runMain(name: string, main: () => Promise<unknown>): void {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${name}: failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}

/** Calls `shutdown` once on SIGTERM or SIGINT, then exits 0 (or 1 if shutdown threw). */
export function onShutdownSignal(shutdown: (signal: string) => Promise<void>): void {
  let started = false;
  const handle = (signal: string) => {
    if (started) return;
    started = true;
    shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => handle('SIGTERM'));
  process.on('SIGINT', () => handle('SIGINT'));
}
