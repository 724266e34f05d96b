// GET /metrics on the gateway's own port moves with real traffic: connections, ops by
// result, rate-limited frames, close reasons and the publish-to-deliver latency.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRoom, newUser } from './support/fixtures';
import { scrape, scrapeUntil, valueOf, type Sample } from './support/prometheus';
import { startSystem, type TestSystem } from './support/system';
import { TestClient } from './support/ws-client';

const RL_CAPACITY = 10;

describe('gateway metrics', () => {
  let system: TestSystem;
  let url: string;
  beforeAll(async () => {
    // A bucket that does not refill during the test, so the number of refused frames is exact.
    system = await startSystem({ RL_BUCKET_CAPACITY: String(RL_CAPACITY), RL_REFILL_MS: '3600000' });
    url = `http://127.0.0.1:${system.port}/metrics`;
  });
  afterAll(() => system.stop());

  const ops = (samples: Sample[], op: string, result: string) => valueOf(samples, 'arcyou_gateway_ops_total', { op, result });

  it('serves the Prometheus text format with every gateway metric declared', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of [
      'arcyou_gateway_connections',
      'arcyou_gateway_ready',
      'arcyou_gateway_rooms',
      'arcyou_gateway_ops_total',
      'arcyou_gateway_rate_limited_total',
      'arcyou_gateway_slow_consumer_closes_total',
      'arcyou_gateway_connections_closed_total',
      'arcyou_gateway_delivery_latency_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('counts connections up and down, ops by result, and delivered events in the latency histogram', async () => {
    const alice = newUser();
    const bob = newUser();
    const roomId = await createRoom(system.sql, [alice, bob]);
    const otherRoom = await createRoom(system.sql, [newUser()]);
    const before = await scrape(url);
    expect(valueOf(before, 'arcyou_gateway_connections')).toBe(0);
    expect(valueOf(before, 'arcyou_gateway_ready')).toBe(1);

    const a = await TestClient.connect(system.port);
    const b = await TestClient.connect(system.port);
    await a.login(alice, roomId);
    await b.login(bob, roomId);
    const refused = await a.request({ op: 'join', room_id: otherRoom });
    expect(refused.error).toBe('Forbidden: not a member');
    a.sendRaw('{not json');
    await a.waitFor((f) => f.error === 'invalid_json');

    for (let i = 0; i < 3; i++) expect((await a.request({ op: 'send', room_id: roomId, content: { text: `m${i}` } })).success).toBe(true);
    await b.waitForEvents(3, roomId);

    const during = await scrapeUntil(url, (s) => valueOf(s, 'arcyou_gateway_delivery_latency_seconds_count') >= 3);
    expect(valueOf(during, 'arcyou_gateway_connections')).toBe(2);
    expect(valueOf(during, 'arcyou_gateway_rooms')).toBe(1);
    expect(ops(during, 'auth', 'ok') - ops(before, 'auth', 'ok')).toBe(2);
    expect(ops(during, 'join', 'ok') - ops(before, 'join', 'ok')).toBe(2);
    expect(ops(during, 'join', 'Forbidden: not a member') - ops(before, 'join', 'Forbidden: not a member')).toBe(1);
    expect(ops(during, 'error', 'invalid_json') - ops(before, 'error', 'invalid_json')).toBe(1);
    expect(ops(during, 'send', 'ok') - ops(before, 'send', 'ok')).toBe(3);
    // One observation per live event this gateway handed to a topic, each well under a second here.
    const delivered = valueOf(during, 'arcyou_gateway_delivery_latency_seconds_count') - valueOf(before, 'arcyou_gateway_delivery_latency_seconds_count');
    expect(delivered).toBe(3);
    const seconds = valueOf(during, 'arcyou_gateway_delivery_latency_seconds_sum') - valueOf(before, 'arcyou_gateway_delivery_latency_seconds_sum');
    expect(seconds / delivered).toBeGreaterThanOrEqual(0);
    expect(seconds / delivered).toBeLessThan(1);
    expect(valueOf(during, 'arcyou_gateway_delivery_latency_seconds_bucket', { le: '1' })).toBe(
      valueOf(during, 'arcyou_gateway_delivery_latency_seconds_count'),
    );

    a.close();
    b.close();
    const after = await scrapeUntil(url, (s) => valueOf(s, 'arcyou_gateway_connections') === 0);
    expect(valueOf(after, 'arcyou_gateway_rooms')).toBe(0);
    expect(valueOf(after, 'arcyou_gateway_connections_closed_total') - valueOf(before, 'arcyou_gateway_connections_closed_total')).toBe(2);
    // close() without a code sends a close frame with none (1005): a normal close, not a fault.
    const normal = { reason: 'normal' };
    expect(valueOf(after, 'arcyou_gateway_connections_closed_total', normal) - valueOf(before, 'arcyou_gateway_connections_closed_total', normal)).toBe(2);
  });

  it('counts every frame refused by the rate limit, and only those', async () => {
    const before = await scrape(url);
    const client = await TestClient.connect(system.port);
    const extra = 4;
    for (let i = 0; i < RL_CAPACITY + extra; i++) client.sendRaw(JSON.stringify({ op: 'nope', request_id: i }));
    await client.waitFor((f) => f.request_id === RL_CAPACITY + extra - 1);
    const after = await scrapeUntil(
      url,
      (s) => valueOf(s, 'arcyou_gateway_rate_limited_total') - valueOf(before, 'arcyou_gateway_rate_limited_total') >= extra,
    );
    expect(valueOf(after, 'arcyou_gateway_rate_limited_total') - valueOf(before, 'arcyou_gateway_rate_limited_total')).toBe(extra);
    expect(ops(after, 'error', 'unknown_op') - ops(before, 'error', 'unknown_op')).toBe(RL_CAPACITY);
    client.close();
  });
});
