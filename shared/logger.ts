import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout (or `destination`). Tokens and credentials are redacted wherever they
 * appear by these names, and so are the arguments of a failed Redis command (ioredis puts
 * them on its errors: an AUTH's are the password).
 */
export function createLogger(name: string, level: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name,
    level,
    // An Error goes under `err`: pino's serializer writes its type, message and stack with
    // those of its `cause` chain, and its own fields (a PostgreSQL or Node `code`, …).
    serializers: { err: pino.stdSerializers.err },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'password', '*.password', 'err.command.args'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
