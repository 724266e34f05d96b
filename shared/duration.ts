// Human durations for settings and command-line flags: `30s`, `15m`, `12h`, `7d`, `2w`,
// `500ms`, or a bare number of seconds (`3600`).
import * as v from 'valibot';

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

export const DURATION_EXPECTED = 'a duration such as 90s, 15m, 12h, 7d or a number of seconds';

/** Milliseconds, or null when `text` is not a duration. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+)\s*(ms|s|m|h|d|w)?$/i.exec(text.trim());
  if (!match) return null;
  const unit = (match[2]?.toLowerCase() ?? 's') as keyof typeof UNIT_MS;
  const ms = Number(match[1]) * UNIT_MS[unit];
  return Number.isSafeInteger(ms) ? ms : null;
}

/** An env entry holding a duration; the config gets milliseconds. */
export function duration(defaultValue: string, minMs = 0) {
  const expected = minMs > 0 ? `${DURATION_EXPECTED}, at least ${minMs} ms` : DURATION_EXPECTED;
  return v.pipe(v.optional(v.string(), defaultValue), v.transform(parseDuration), v.number(expected), v.minValue(minMs, expected));
}
