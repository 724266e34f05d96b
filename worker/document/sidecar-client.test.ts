import { describe, expect, it } from 'vitest';
import { interpretParseResponse, parseUrl } from './sidecar-client';

describe('interpretParseResponse', () => {
  it('takes a 2xx with a JSON object or an empty body as success', () => {
    expect(interpretParseResponse(200, '{"success":true}')).toEqual({ ok: true });
    expect(interpretParseResponse(200, '{}')).toEqual({ ok: true });
    expect(interpretParseResponse(202, '{"status":"queued"}')).toEqual({ ok: true });
    expect(interpretParseResponse(204, '')).toEqual({ ok: true });
  });

  it('fails a 2xx whose body says success:false, with the reason given', () => {
    expect(interpretParseResponse(200, '{"success":false,"error":"pdf is encrypted"}')).toEqual({
      ok: false,
      error: 'sidecar reported failure: pdf is encrypted',
      retryable: true,
    });
  });

  it('fails a 2xx whose body is not a JSON object', () => {
    expect(interpretParseResponse(200, '<html>Bad Gateway</html>')).toMatchObject({
      ok: false,
      error: expect.stringContaining('not JSON: <html>Bad Gateway</html>'),
    });
    expect(interpretParseResponse(200, '[1,2]')).toMatchObject({ ok: false, error: expect.stringContaining('not an object') });
  });

  it('fails other statuses; only server errors, 408 and 429 are worth retrying', () => {
    expect(interpretParseResponse(500, 'Internal Server Error')).toEqual({
      ok: false,
      error: 'sidecar answered HTTP 500: Internal Server Error',
      retryable: true,
    });
    expect(interpretParseResponse(503, '')).toEqual({ ok: false, error: 'sidecar answered HTTP 503: (empty body)', retryable: true });
    expect(interpretParseResponse(429, '')).toMatchObject({ retryable: true });
    expect(interpretParseResponse(404, '{"detail":"Not Found"}')).toMatchObject({ ok: false, retryable: false });
    expect(interpretParseResponse(422, '')).toMatchObject({ ok: false, retryable: false });
  });

  it('keeps error messages to one bounded line', () => {
    const result = interpretParseResponse(500, `line one\n\n${'x'.repeat(5000)}`);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).not.toContain('\n');
      expect(result.error.length).toBeLessThan(300);
    }
  });
});

describe('parseUrl', () => {
  it('joins the base URL and the document path, with or without a trailing slash', () => {
    expect(parseUrl('http://sidecar:8000', 'abc')).toBe('http://sidecar:8000/internal/documents/abc/parse');
    expect(parseUrl('http://sidecar:8000/api/', 'abc')).toBe('http://sidecar:8000/api/internal/documents/abc/parse');
  });
});
