// Process entry points: config errors print a plain message and exit 2; anything
// else is logged and exits 1. Long-running processes start through runUntilSignal, which
// stops what they started, in reverse order, on SIGTERM or SIGINT.
import { ConfigError } from './config';
import type { Logger } from './logger';
import { createStopStack, type StopStack } from './stop-stack';

export function runMain(name: string, main: () => Promise<unknown>): void {
  main().catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${name}: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
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

/** The log lines of a stop, as operators and tests look for them. */
export interface StopMessages {
  /** Logged with the signal as stopping begins, e.g. "gateway draining". */
  stopping: string;
  /** Logged once everything has stopped. */
  stopped: string;
  /** More fields for the `stopping` line, read when the signal comes. */
  stoppingFields?: () => Record<string, unknown>;
}

/**
 * Starts a long-running process: `start` pushes each thing it starts onto the stack, and
 * runUntilSignal resolves with its result. SIGTERM or SIGINT stops the stack, then the
 * process exits 0 (1 if a stop failed). A signal during start-up aborts `signal`, so that a
 * start that waits (a taken port) can give up at once; what it had started is stopped the
 * same way. A start that throws otherwise stops what it had started, then rethrows, for
 * runMain's exit codes.
 */
export async function runUntilSignal<T>(logger: Logger, messages: StopMessages, start: (stack: StopStack, signal: AbortSignal) => Promise<T>): Promise<T> {
  const stack = createStopStack(logger);
  const aborted = new AbortController();
  // Listening before start, so that a signal during start-up (an embedded initdb takes
  // seconds) waits for it, then stops everything, rather than leaving a half-started child behind.
  let starting: Promise<unknown> = Promise.resolve();
  onShutdownSignal(async (signal) => {
    logger.info({ signal, ...messages.stoppingFields?.() }, messages.stopping);
    aborted.abort();
    await starting.catch(() => {});
    await stack.stopAll();
    logger.info(messages.stopped);
  });
  const started = start(stack, aborted.signal);
  starting = started;
  try {
    return await started;
  } catch (err) {
    // Given up for the signal, whose handler stops the stack and exits.
    if (aborted.signal.aborted) return new Promise<never>(() => {});
    await stack.stopAll().catch(() => {});
    throw err;
  }
}
