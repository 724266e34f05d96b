// The Artillery scenario's processor (bench/artillery/processor.ts), run as Artillery runs
// it — one call per virtual user — against a real gateway and worker, without Artillery
// itself (npm run bench:artillery installs and runs that): every virtual user joins, sends,
// is answered, and reads the others' messages; what it reports is what happened.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatMember, type ArtilleryEvents } from '../bench/artillery/processor';
import { startSystem, type TestSystem } from './support/system';

const KEY = 'artillery-test-key';

describe('Artillery processor', () => {
  let system: TestSystem;
  const saved = { ...process.env };
  beforeAll(async () => {
    system = await startSystem({ SERVER_API_KEYS: KEY, API_RL_CAPACITY: '100000' });
    Object.assign(process.env, {
      ARCYOU_SERVER_KEY: KEY,
      ARCYOU_ROOM_SIZE: '3',
      ARCYOU_MESSAGES: '4',
      ARCYOU_SEND_INTERVAL_MS: '100',
      ARCYOU_LINGER_MS: '1500',
    });
  });
  afterAll(async () => {
    process.env = saved;
    await system?.stop();
  });

  it('has each virtual user join a room of its own size, send, get its replies and read the others; reports each', async () => {
    const counters = new Map<string, number>();
    const histograms = new Map<string, number[]>();
    const events: ArtilleryEvents = {
      emit(kind, name, value) {
        if (kind === 'counter') counters.set(name, (counters.get(name) ?? 0) + value);
        else histograms.set(name, [...(histograms.get(name) ?? []), value]);
      },
    };
    const context = { vars: { target: `http://127.0.0.1:${system.port}` } };
    // Six users, two rooms of three, all in the room at the same time.
    await Promise.all(Array.from({ length: 6 }, () => chatMember(context, events)));

    expect(counters.get('arcyou.sent')).toBe(24);
    expect([...counters.keys()].filter((name) => name.startsWith('arcyou.send_error'))).toEqual([]);
    expect(histograms.get('arcyou.ack_ms')).toHaveLength(24);
    expect(histograms.get('arcyou.join_ms')).toHaveLength(6);
    // Each reads the other two members' four messages, live or (sent before it joined) as backfill.
    expect((counters.get('arcyou.delivered') ?? 0) + (counters.get('arcyou.caught_up') ?? 0)).toBe(6 * 2 * 4);
    expect(histograms.get('arcyou.delivery_ms')?.length).toBe(counters.get('arcyou.delivered'));
    expect(counters.get('arcyou.delivered')).toBeGreaterThan(0);
    const rooms = await system.sql<{ room_id: string; n: number }[]>`
      SELECT room_id, count(*)::int AS n FROM arcyou_chat_messages GROUP BY room_id ORDER BY room_id`;
    expect(rooms.map((r) => r.n)).toEqual([12, 12]);
  }, 60_000);

  it('refuses to run without a server key, saying which variable is missing', async () => {
    delete process.env.ARCYOU_SERVER_KEY;
    await expect(chatMember({ vars: { target: `http://127.0.0.1:${system.port}` } }, { emit() {} })).rejects.toThrow(/ARCYOU_SERVER_KEY is required/);
    process.env.ARCYOU_SERVER_KEY = KEY;
  });
});
