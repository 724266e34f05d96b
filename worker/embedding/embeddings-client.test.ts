import { describe, expect, it } from 'vitest';
import { vectorsFromResponse } from './embeddings-client';
import { JobError } from './job-error';

const body = (data: unknown) => JSON.stringify({ object: 'list', data, model: 'm' });

describe('vectorsFromResponse', () => {
  it('returns the vectors in input order, whatever order the API lists them in', () => {
    expect(
      vectorsFromResponse(
        body([
          { index: 1, embedding: [3, 4] },
          { index: 0, embedding: [1, 2] },
        ]),
        2,
      ),
    ).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });

  it('refuses answers that do not give exactly one vector per input', () => {
    const reasons = [
      [body([{ index: 0, embedding: [1] }]), 2, 'no vector for input(s) 1'],
      [
        body([
          { index: 0, embedding: [1] },
          { index: 0, embedding: [1] },
        ]),
        2,
        'index 0 for 2 input(s)',
      ],
      [
        body([
          { index: 0, embedding: [1] },
          { index: 1, embedding: [1, 2] },
        ]),
        2,
        'different lengths',
      ],
      [body([{ index: 0, embedding: [] }]), 1, 'must not be empty'],
      ['{"error":"x"}', 1, 'not an embeddings response'],
      ['<html>', 1, 'not JSON'],
    ] as const;
    for (const [text, count, reason] of reasons) {
      let error: unknown;
      try {
        vectorsFromResponse(text, count);
      } catch (err) {
        error = err;
      }
      expect(error, reason).toBeInstanceOf(JobError);
      expect((error as JobError).message).toContain(reason);
      expect((error as JobError).retryable).toBe(true);
    }
  });
});
