import { describe, expect, it } from 'vitest';
import { ConfigError, flag, integer, loadConfig, oneOf, redisUrl, text } from './config';

const entries = {
  BATCH_SIZE: integer(100, 1, 10_000),
  PUBSUB_MODE: oneOf(['global', 'perconv'], 'global'),
  DEMO: flag(false),
  REDIS_URL: redisUrl,
  NAME: text('x'),
};

describe('loadConfig', () => {
  it('applies defaults and converts types', () => {
    const config = loadConfig(entries, { REDIS_URL: 'redis://localhost:6379' });
    expect(config).toEqual({ BATCH_SIZE: 100, PUBSUB_MODE: 'global', DEMO: false, REDIS_URL: 'redis://localhost:6379', NAME: 'x' });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(entries, { REDIS_URL: 'redis://h', BATCH_SIZE: '' }).BATCH_SIZE).toBe(100);
  });

  it('names every bad variable and what it expects', () => {
    let error: unknown;
    try {
      loadConfig(entries, { BATCH_SIZE: 'lots', PUBSUB_MODE: 'room', DEMO: 'maybe' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('BATCH_SIZE must be an integer from 1 to 10000 (got "lots")');
    expect(message).toContain('PUBSUB_MODE must be one of global, perconv (got "room")');
    expect(message).toContain('DEMO must be true or false');
    expect(message).toMatch(/REDIS_URL must be .*not set/);
  });

  it('refuses out-of-range numbers', () => {
    expect(() => loadConfig(entries, { REDIS_URL: 'redis://h', BATCH_SIZE: '0' })).toThrow(/BATCH_SIZE must be an integer from 1 to 10000/);
  });

  it('does not print the value of a secret-looking variable', () => {
    expect(() => loadConfig(entries, { REDIS_URL: 'http://user:secret@h' })).toThrow(/REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\/ \(the value given is not\)/);
    try {
      loadConfig(entries, { REDIS_URL: 'http://user:secret@h' });
    } catch (err) {
      expect((err as Error).message).not.toContain('secret');
    }
  });
});
