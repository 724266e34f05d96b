import { describe, expect, it } from 'vitest';
import { chunkText } from './chunk-text';

const words = (n: number) => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

describe('chunkText', () => {
  it('keeps short text whole and drops empty text', () => {
    expect(chunkText('  hello world  ', { maxChars: 100, overlap: 10 })).toEqual(['hello world']);
    expect(chunkText('   \n ', { maxChars: 100, overlap: 10 })).toEqual([]);
  });

  it('never makes a chunk longer than maxChars, and covers every word', () => {
    const text = words(2000);
    const chunks = chunkText(text, { maxChars: 500, overlap: 100 });
    expect(chunks.length).toBeGreaterThan(text.length / 500);
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(500);
    const seen = new Set(chunks.flatMap((c) => c.split(/\s+/)));
    expect(text.split(' ').filter((word) => !seen.has(word))).toEqual([]);
  });

  it('cuts at word boundaries, and repeats the end of one chunk at the start of the next', () => {
    const chunks = chunkText(words(300), { maxChars: 400, overlap: 80 });
    for (const chunk of chunks) expect(chunk).toMatch(/^word\d+( word\d+)*$/);
    for (let i = 1; i < chunks.length; i++) {
      const firstWord = chunks[i]!.split(' ')[0]!;
      expect(chunks[i - 1]!.split(' ')).toContain(firstWord);
    }
  });

  it('prefers paragraph breaks, then sentence ends, over a cut inside a sentence', () => {
    const paragraph = (label: string) => `${label} ${'x'.repeat(60)}. Second sentence of ${label} ${'y'.repeat(60)}.`;
    const text = [paragraph('A'), paragraph('B'), paragraph('C')].join('\n\n');
    const chunks = chunkText(text, { maxChars: 200, overlap: 0 });
    expect(chunks[0]).toBe(paragraph('A'));
    expect(chunks.every((c) => c.endsWith('.'))).toBe(true);
  });

  it('hard-cuts text without any break, without splitting a surrogate pair', () => {
    const text = '😀'.repeat(300); // 600 code units, no spaces
    const chunks = chunkText(text, { maxChars: 101, overlap: 0 });
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(101);
      expect(chunk).toMatch(/^(😀)+$/u);
    }
    expect(chunks.join('')).toBe(text);
  });

  it('splits Korean prose at sentence ends', () => {
    const sentence = '임베딩 큐는 레디스 리스트를 사용합니다. ';
    const chunks = chunkText(sentence.repeat(40), { maxChars: 150, overlap: 20 });
    for (const chunk of chunks) expect(chunk.length).toBeLessThanOrEqual(150);
    expect(chunks[0]!.endsWith('.')).toBe(true);
  });
});
