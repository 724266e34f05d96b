// Errors are logged whole under `err` (type, message, stack, cause, own fields such as a
// PostgreSQL code), and secrets stay out of the log however they arrive.
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('test', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('logger', () => {
  it('writes an Error under err with its type, message, stack, cause and code', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('terminating connection due to administrator command', { cause: new Error('socket closed') }), { code: '57P01' });
    logger.warn({ err, attempt: 2 }, 'outbox round failed; will retry');
    const [line] = lines;
    expect(line).toMatchObject({ msg: 'outbox round failed; will retry', attempt: 2 });
    const logged = line!.err as Record<string, string>;
    expect(logged).toMatchObject({ type: 'Error', code: '57P01' });
    expect(logged.message).toContain('terminating connection due to administrator command');
    expect(logged.stack).toContain('caused by: Error: socket closed');
  });

  it('redacts tokens, and the arguments of a failed Redis command (an AUTH carries the password)', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new Error('WRONGPASS invalid username-password pair'), { command: { name: 'auth', args: ['s3cret'] } });
    logger.warn({ err }, 'redis error');
    logger.info({ token: 'eyJ.secret.sig', user: { token: 'eyJ.other.sig' } }, 'auth');
    const text = lines.map((line) => JSON.stringify(line)).join('\n');
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('eyJ');
    expect(lines[0]!.err).toMatchObject({ command: { name: 'auth', args: '[redacted]' } });
  });
});
