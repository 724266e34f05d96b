// A short randomized fault run in the suite (`npm run chaos` runs it for longer): 2
// gateways (the second without the fast path) and 2 chat workers on a private PostgreSQL and Redis, resilient clients
// chatting while processes are killed and frozen, Redis and PostgreSQL restarted and
// their connections cut, members removed and re-added; every connection must see its
// rooms' messages exactly in seq order (docs/delivery.md). CHAOS_SEED replays a run.
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { formatReport, runChaos } from './chaos/chaos';
import { FAULT_KINDS } from './chaos/faults';

const SEED = process.env.CHAOS_SEED ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 32);

describe(`chaos (short; seed ${SEED}, replay with CHAOS_SEED=${SEED})`, () => {
  for (const pubsubMode of ['global', 'perconv'] as const) {
    it(`PUBSUB_MODE=${pubsubMode}: every member gets every message of its room, in seq order, once, through 25 s of faults`, async () => {
      const report = await runChaos({
        pubsubMode,
        seed: SEED,
        seconds: 25,
        rooms: 4,
        membersPerRoom: 4,
        sendIntervalMs: 400,
        faultGapMs: [1000, 3000],
        churnIntervalMs: 1500,
        drainSeconds: 20,
        log: () => {},
        traceDir: tmpdir(),
      });
      console.log(formatReport(report));
      expect(report.failures).toEqual([]);
      // The run really did what it says.
      expect(report.messages.acked).toBeGreaterThan(200);
      expect(report.deliveries.received).toBe(report.deliveries.expected);
      expect(Object.keys(report.faultCounts).sort()).toEqual([...FAULT_KINDS].sort());
      expect(report.connections.reconnects).toBeGreaterThan(0);
      expect(report.membership.removed).toBeGreaterThan(0);
    }, 110_000);
  }
});
