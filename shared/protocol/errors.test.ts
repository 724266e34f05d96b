import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from './errors';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const MARKER = 'with stable `error` strings:';

/**
 * The README's sentence listing the error strings: the `…` spans after the marker, outside
 * parentheses (those explain a string, e.g. `room_id must be a UUID`), up to the sentence's end.
 */
function readmeErrorStrings(): string[] {
  const start = README.indexOf(MARKER);
  if (start < 0) throw new Error(`README.md has no "${MARKER}" list`);
  const strings: string[] = [];
  let depth = 0;
  for (let i = start + MARKER.length; i < README.length; i++) {
    const ch = README[i];
    if (ch === '`') {
      const end = README.indexOf('`', i + 1);
      if (depth === 0) strings.push(README.slice(i + 1, end));
      i = end;
    } else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '.' && depth === 0) break;
  }
  return strings;
}

describe('protocol error strings', () => {
  it('are the README list, exactly', () => {
    const listed = readmeErrorStrings();
    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(Object.values(ProtocolError).sort());
  });
});
