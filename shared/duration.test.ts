import { describe, expect, it } from 'vitest';
import { loadConfig } from './config';
import { duration, parseDuration } from './duration';

describe('parseDuration', () => {
  it('reads a number with a unit as milliseconds', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('12h')).toBe(43_200_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('2w')).toBe(1_209_600_000);
    expect(parseDuration(' 7D ')).toBe(604_800_000);
  });

  it('reads a bare number as seconds', () => {
    expect(parseDuration('3600')).toBe(3_600_000);
    expect(parseDuration('0')).toBe(0);
  });

  it('refuses anything else', () => {
    for (const bad of ['', 'd', '7 days', '-1h', '1.5h', '1h30m', 'soon', '99999999999999999999d']) expect(parseDuration(bad)).toBeNull();
  });
});

describe('duration env entry', () => {
  it('gives milliseconds, with the default when unset', () => {
    expect(loadConfig({ KEEP: duration('7d') }, {}).KEEP).toBe(604_800_000);
    expect(loadConfig({ KEEP: duration('7d') }, { KEEP: '1h' }).KEEP).toBe(3_600_000);
  });

  it('names the variable and the expected form when the value is wrong', () => {
    expect(() => loadConfig({ KEEP: duration('7d') }, { KEEP: 'a week' })).toThrow(/KEEP must be a duration such as 90s/);
    expect(() => loadConfig({ KEEP: duration('7d', 1000) }, { KEEP: '10ms' })).toThrow(/KEEP must be .*at least 1000 ms/);
  });
});
