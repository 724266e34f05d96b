import { describe, expect, it } from 'vitest';
import { failedEntry, jobOfFailedEntry } from './failed-entry';
import { newJob, parseJob, serializeJob } from './job';

describe('embedding job', () => {
  it('accepts a version 1 job, with a string or integer post id and retryCount defaulting to 0', () => {
    expect(parseJob('{"version":1,"post_id":"p-1","title":"T","content":"C","retryCount":2}')).toEqual({
      job: { version: 1, post_id: 'p-1', title: 'T', content: 'C', retryCount: 2 },
    });
    expect(parseJob('{"version":1,"post_id":42,"title":"","content":"C"}')).toEqual({
      job: { version: 1, post_id: 42, title: '', content: 'C', retryCount: 0 },
    });
  });

  it('keeps fields it does not know, so a newer producer loses nothing through a retry', () => {
    const parsed = parseJob('{"version":1,"post_id":1,"title":"","content":"C","lang":"ko"}');
    expect('job' in parsed && serializeJob(parsed.job)).toContain('"lang":"ko"');
  });

  it('says why a job is malformed', () => {
    expect(parseJob('not json')).toEqual({ invalid: 'not JSON', value: 'not json' });
    expect(parseJob('[1]')).toMatchObject({ invalid: 'not a JSON object' });
    expect(parseJob('{"version":2,"post_id":1,"title":"","content":""}')).toMatchObject({
      invalid: 'version: unsupported version (this consumer reads version 1)',
    });
    expect(parseJob('{"version":1,"post_id":"  ","title":"","content":""}')).toMatchObject({ invalid: 'post_id: must not be empty' });
    expect(parseJob('{"version":1,"post_id":null,"title":"","content":""}')).toMatchObject({
      invalid: 'post_id: must be a non-empty string or a non-negative integer',
    });
    expect(parseJob('{"version":1,"post_id":1,"content":""}')).toMatchObject({ invalid: 'title: missing' });
    expect(parseJob('{"version":1,"post_id":1,"title":"","content":"","retryCount":-1}')).toMatchObject({ invalid: 'retryCount: must be 0 or more' });
    expect(parseJob('{"version":1,"post_id":1,"title":"","content":"","enqueued_at":"yesterday"}')).toMatchObject({
      invalid: 'enqueued_at: must be an ISO 8601 timestamp',
    });
  });

  it('builds new jobs at version 1 with no retries and the time they were queued, refusing bad input', () => {
    const now = new Date('2026-03-01T12:00:00.123Z');
    expect(newJob({ post_id: 5, title: 't', content: 'c' }, now)).toEqual({
      version: 1,
      post_id: 5,
      title: 't',
      content: 'c',
      enqueued_at: '2026-03-01T12:00:00.123Z',
      retryCount: 0,
    });
    expect(() => newJob({ post_id: '', title: 't', content: 'c' })).toThrow();
  });

  it('wraps a failed job with its error and reads it back', () => {
    const entry = failedEntry({ version: 1, post_id: 1 }, 'HTTP 500', 'c1', new Date('2026-01-01T00:00:00Z'));
    expect(JSON.parse(entry)).toEqual({ job: { version: 1, post_id: 1 }, error: 'HTTP 500', failed_at: '2026-01-01T00:00:00.000Z', consumer: 'c1' });
    expect(jobOfFailedEntry(entry)).toEqual({ version: 1, post_id: 1 });
    expect(jobOfFailedEntry('garbage')).toBeNull();
  });
});
