import { describe, expect, it } from 'vitest';
import { ConfigError, flag, integer, loadConfig, oneOf, redisUrl, text, busRedisUrl, type ConfigOf, type ConfigRule } from './config';
import { parseClusterUrl } from './redis-cluster';

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
    expect(() => loadConfig(entries, { REDIS_URL: 'http://user:secret@h' })).toThrow(
      /REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\/ \(the value given is not\)/,
    );
    try {
      loadConfig(entries, { REDIS_URL: 'http://user:secret@h' });
    } catch (err) {
      expect((err as Error).message).not.toContain('secret');
    }
  });
});

describe('loadConfig rules between variables', () => {
  const limits = { SOFT_LIMIT: integer(10, 1, 1000), HARD_LIMIT: integer(20, 1, 1000) };
  const softUnderHard: ConfigRule<ConfigOf<typeof limits>> = {
    names: ['SOFT_LIMIT'],
    holds: (config) => config.SOFT_LIMIT < config.HARD_LIMIT,
    must: (config) => `be less than HARD_LIMIT (${config.HARD_LIMIT})`,
  };
  const bothEven: ConfigRule<ConfigOf<typeof limits>> = {
    names: ['SOFT_LIMIT', 'HARD_LIMIT'],
    holds: (config) => config.SOFT_LIMIT % 2 === 0 && config.HARD_LIMIT % 2 === 0,
    must: () => 'be even',
  };

  it('reports a broken rule as a bad variable is reported: the variables, what they must be, what they are', () => {
    expect(loadConfig(limits, {}, [softUnderHard, bothEven])).toEqual({ SOFT_LIMIT: 10, HARD_LIMIT: 20 });
    let error: unknown;
    try {
      loadConfig(limits, { SOFT_LIMIT: '25', HARD_LIMIT: '21' }, [softUnderHard, bothEven]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'Invalid configuration:\n  SOFT_LIMIT must be less than HARD_LIMIT (21) (got 25)\n  SOFT_LIMIT and HARD_LIMIT must be even (got 25 and 21)',
    );
  });

  it('checks rules only once every variable is valid on its own', () => {
    expect(() => loadConfig(limits, { SOFT_LIMIT: '25', HARD_LIMIT: 'many' }, [softUnderHard])).toThrow(
      /^Invalid configuration:\n {2}HARD_LIMIT must be an integer from 1 to 1000 \(got "many"\)$/,
    );
  });
});

describe('busRedisUrl', () => {
  const entries = { REDIS_URL: busRedisUrl };

  it('takes one Redis or a Redis Cluster by its seed nodes, and refuses anything else with a clear message', () => {
    expect(loadConfig(entries, { REDIS_URL: 'redis://h:6379' }).REDIS_URL).toBe('redis://h:6379');
    expect(loadConfig(entries, { REDIS_URL: 'redis+cluster://10.0.0.1:7000,10.0.0.2:7000' }).REDIS_URL).toBe('redis+cluster://10.0.0.1:7000,10.0.0.2:7000');
    for (const bad of [
      'http://h',
      'redis+cluster://',
      'redis+cluster://h',
      'redis+cluster://h:0',
      'redis+cluster://h:7000,',
      'redis+cluster://:%E0%A4%A@h:7000',
    ]) {
      expect(() => loadConfig(entries, { REDIS_URL: bad }), bad).toThrow(
        /REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\/, or redis\+cluster:\/\/host:port\[,host:port…\] \(the value given is not\)/,
      );
    }
  });
});

describe('parseClusterUrl', () => {
  it('reads the seed nodes and the password', () => {
    expect(parseClusterUrl('redis+cluster://a:7000, b:7001/')).toEqual({
      seeds: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      password: undefined,
    });
    expect(parseClusterUrl('redis+cluster://:p%40ss@a:7000')).toEqual({ seeds: [{ host: 'a', port: 7000 }], password: 'p@ss' });
    expect(parseClusterUrl('redis://a:7000')).toBeNull();
  });
});
