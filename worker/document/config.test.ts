import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../shared/config';
import { loadDocumentWorkerConfig } from './config';

const base = { DATABASE_URL: 'postgres://localhost/arcyou' };

describe('document worker config', () => {
  it('defaults to the seed policy: no retry, local sidecar', () => {
    const config = loadDocumentWorkerConfig(base);
    expect(config.DOCUMENT_MAX_ATTEMPTS).toBe(1);
    expect(config.sidecarBaseUrl).toBe('http://localhost:8000');
    expect('MAX_ATTEMPTS' in config).toBe(false);
  });

  it('takes DOCUMENT_SIDECAR_BASE_URL over SIDECAR_BASE_URL', () => {
    expect(loadDocumentWorkerConfig({ ...base, SIDECAR_BASE_URL: 'http://a:1' }).sidecarBaseUrl).toBe('http://a:1');
    expect(loadDocumentWorkerConfig({ ...base, SIDECAR_BASE_URL: 'http://a:1', DOCUMENT_SIDECAR_BASE_URL: 'http://b:2' }).sidecarBaseUrl).toBe('http://b:2');
  });

  it('names a bad variable', () => {
    expect(() => loadDocumentWorkerConfig({ ...base, SIDECAR_BASE_URL: 'sidecar:8000' })).toThrow(
      /SIDECAR_BASE_URL must be a URL starting with http:\/\/ or https:\/\//,
    );
    expect(() => loadDocumentWorkerConfig({ ...base, DOCUMENT_MAX_ATTEMPTS: '0' })).toThrow(/DOCUMENT_MAX_ATTEMPTS must be an integer from 1/);
  });

  it('refuses a lock shorter than a job can take', () => {
    const tooShort = { ...base, LOCK_SECONDS: '20', SIDECAR_TIMEOUT_MS: '20000', BATCH_SIZE: '8', DOCUMENT_CONCURRENCY: '4' };
    expect(() => loadDocumentWorkerConfig(tooShort)).toThrow(ConfigError);
    expect(() => loadDocumentWorkerConfig(tooShort)).toThrow(/LOCK_SECONDS must be more than .* = 20 s.*\(got 20\)/);
    // A row waits only for its own call (it is claimed for a free slot), so the batch size does not count.
    expect(() => loadDocumentWorkerConfig({ ...tooShort, LOCK_SECONDS: '21' })).not.toThrow();
  });
});
