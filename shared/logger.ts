import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout. Tokens and credentials are redacted wherever they appear by these names. */
export function createLogger(name: string, level: string): Logger {
  return pino({
    name,
    level,
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'password', '*.password'], censor: '[redacted]' },
  });
}
