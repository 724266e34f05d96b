import { describe, expect, it } from 'vitest';
import { DEMO_ROOM, DEMO_USERS } from '../shared/demo-room';
import { connectHost, READY_LINE, renderBanner, withoutPassword, type BannerFacts } from './banner';

const facts: BannerFacts = {
  host: '127.0.0.1',
  port: 8080,
  demoUi: true,
  embeddedDataDir: '/repo/.data/postgres',
  databaseUrl: 'postgres://postgres:arcyou-dev@127.0.0.1:40000/arcyou',
  redisUrl: null,
  pubsubMode: 'global',
  jwtPublicKey: 'dev-placeholder',
  serverApi: { devKey: 'dev_abc', keyFile: '/repo/.data/server-api-key' },
  demo: { roomId: DEMO_ROOM.id, users: DEMO_USERS },
};

describe('npm start banner', () => {
  it('says where to connect, which demo room and users to try, and how a dev token looks', () => {
    const banner = renderBanner(facts);
    expect(banner).toContain(READY_LINE);
    expect(banner).toContain('ws://127.0.0.1:8080/');
    expect(banner).toContain('http://127.0.0.1:8080/demo');
    expect(banner).toContain(DEMO_ROOM.id);
    for (const user of DEMO_USERS) expect(banner).toMatch(new RegExp(`${user.name}\\s+${user.id}`));
    expect(banner).toContain(`{"op":"auth","token":"${DEMO_USERS[0]!.id}"}`);
    expect(banner).toMatch(/Bus\s+in-process/);
    expect(banner).toContain('/repo/.data/postgres');
    expect(banner).toMatch(/Server API\s+http:\/\/127\.0\.0\.1:8080\/v1\/…\s+Authorization: Bearer dev_abc/);
  });

  it('names Redis and the given database without their passwords, and leaves out what is off', () => {
    const banner = renderBanner({
      ...facts,
      demoUi: false,
      embeddedDataDir: null,
      databaseUrl: 'postgres://app:s3cret@db:5432/chat',
      redisUrl: 'redis://:hunter2@cache:6379',
      pubsubMode: 'perconv',
      jwtPublicKey: '-----BEGIN PUBLIC KEY-----...',
      serverApi: 'configured',
      demo: null,
    });
    expect(banner).toMatch(/Server API\s+\S+\s+with a key from SERVER_API_KEYS/);
    expect(banner).not.toMatch(/s3cret|hunter2/);
    expect(banner).toContain('postgres://app:***@db:5432/chat');
    expect(banner).toMatch(/Bus\s+Redis redis:\/\/:\*\*\*@cache:6379 \(PUBSUB_MODE=perconv\)/);
    expect(banner).toContain('RS256');
    expect(banner).not.toContain('/demo');
    expect(banner).not.toContain('Demo room');
  });

  it('turns a wildcard listen address into one a browser can open', () => {
    expect(connectHost('0.0.0.0')).toBe('127.0.0.1');
    expect(connectHost('::')).toBe('[::1]');
    expect(connectHost('fe80::1')).toBe('[fe80::1]');
    expect(connectHost('chat.local')).toBe('chat.local');
    expect(withoutPassword('redis://cache:6379')).toBe('redis://cache:6379');
  });
});
