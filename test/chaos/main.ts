// `npm run chaos`: the randomized fault run from env, one report per PUBSUB_MODE on
// stdout, exit 1 if any promise of docs/delivery.md was broken. CHAOS_SEED replays the
// random draws of a run (printed in its report); Ctrl-C ends the traffic early, and the
// run still cleans up and checks.
import { tmpdir } from 'node:os';
import * as v from 'valibot';
import { integer, loadConfig, text } from '../../shared/config';
import { runMain } from '../../shared/process';
import { formatReport, runChaos, type PubsubMode } from './chaos';

const MODES = ['global', 'perconv'] as const;
const modes = v.pipe(
  v.optional(v.string(), MODES.join(',')),
  v.transform((s) =>
    s
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean),
  ),
  v.check((list) => list.length > 0 && list.every((m) => (MODES as readonly string[]).includes(m)), `a comma-separated list of ${MODES.join(', ')}`),
  v.transform((list) => list as PubsubMode[]),
);

const chaosEnv = {
  CHAOS_SEED: integer(Math.floor(Math.random() * 2 ** 32), 0, 2 ** 32 - 1),
  CHAOS_MODES: modes,
  /** Seconds of traffic with faults, per mode (plus ~15 s of start-up, drain and teardown). */
  CHAOS_SECONDS: integer(60, 5, 86_400),
  CHAOS_ROOMS: integer(4, 1, 100),
  CHAOS_MEMBERS_PER_ROOM: integer(4, 2, 100),
  CHAOS_SEND_INTERVAL_MS: integer(400, 20, 60_000),
  CHAOS_FAULT_MIN_MS: integer(1000, 100, 600_000),
  CHAOS_FAULT_MAX_MS: integer(3000, 100, 600_000),
  CHAOS_CHURN_INTERVAL_MS: integer(1500, 100, 600_000),
  CHAOS_DRAIN_SECONDS: integer(30, 5, 3600),
  /** Where a failed run writes its recording (JSON). */
  CHAOS_TRACE_DIR: text(tmpdir()),
};

runMain('chaos', async () => {
  const config = loadConfig(chaosEnv);
  const aborted = new AbortController();
  process.once('SIGINT', () => aborted.abort());
  process.once('SIGTERM', () => aborted.abort());
  console.log(`chaos seed ${config.CHAOS_SEED}, modes ${config.CHAOS_MODES.join(', ')}, ${config.CHAOS_SECONDS} s of traffic each`);
  let failed = false;
  for (const pubsubMode of config.CHAOS_MODES) {
    if (aborted.signal.aborted) break;
    console.log(`PUBSUB_MODE=${pubsubMode}:`);
    const report = await runChaos({
      pubsubMode,
      seed: config.CHAOS_SEED,
      seconds: config.CHAOS_SECONDS,
      rooms: config.CHAOS_ROOMS,
      membersPerRoom: config.CHAOS_MEMBERS_PER_ROOM,
      sendIntervalMs: config.CHAOS_SEND_INTERVAL_MS,
      faultGapMs: [Math.min(config.CHAOS_FAULT_MIN_MS, config.CHAOS_FAULT_MAX_MS), config.CHAOS_FAULT_MAX_MS],
      churnIntervalMs: config.CHAOS_CHURN_INTERVAL_MS,
      drainSeconds: config.CHAOS_DRAIN_SECONDS,
      log: (line) => console.log(line),
      signal: aborted.signal,
      traceDir: config.CHAOS_TRACE_DIR,
    });
    console.log(formatReport(report));
    failed ||= report.failures.length > 0;
  }
  process.exit(failed ? 1 : 0);
});
