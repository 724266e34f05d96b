import { describe, expect, it } from 'vitest';
import { createServerKeys } from './server-keys';

describe('server API keys', () => {
  it('accepts each configured key (rotation: old and new together) and nothing else', () => {
    const keys = createServerKeys(' old-key , new-key ,');
    expect(keys.enabled).toBe(true);
    expect(keys.check('old-key')).toBe(true);
    expect(keys.check('new-key')).toBe(true);
    for (const wrong of ['', 'old', 'old-key ', 'new-key2', 'NEW-KEY']) expect(keys.check(wrong), wrong).toBe(false);
  });

  it('is off when no key is configured', () => {
    const keys = createServerKeys(' , ');
    expect(keys.enabled).toBe(false);
    expect(keys.check('')).toBe(false);
  });
});
