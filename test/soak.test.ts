// A short soak run in the suite (`npm run soak` runs it for minutes): steady chat with
// members leaving and returning; nothing lost, doubled or reordered, clean logs, flat memory.
import { describe, expect, it } from 'vitest';
import { formatReport, runSoak } from './soak/soak';
import { databaseUrl, redisUrl } from './support/services';

describe('soak (short)', () => {
  it('keeps every message for every member through 20 s of chat with joins and leaves, with clean logs and flat memory', async () => {
    const report = await runSoak({
      seconds: 20,
      databaseUrl: databaseUrl(),
      redisUrl: redisUrl(),
      rooms: 4,
      membersPerRoom: 5,
      sendIntervalMs: 700,
      leaveIntervalMs: 1500,
      maxRssGrowthBytes: 40 * 1024 * 1024,
      pubsubMode: 'perconv',
      log: () => {},
    });
    console.log(formatReport(report));
    expect(report.failures).toEqual([]);
    expect(report.messagesAccepted).toBeGreaterThan(100);
    expect(report.reconnects).toBeGreaterThan(3);
    expect(report.deliveriesReceived).toBe(report.deliveriesExpected);
  }, 120_000);
});
