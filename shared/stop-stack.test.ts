import { describe, expect, it } from 'vitest';
import { createLogger } from './logger';
import { createStopStack } from './stop-stack';

function capture() {
  const lines: Array<{ msg: string }> = [];
  const logger = createLogger('test', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
  return { logger, lines };
}

describe('stop stack', () => {
  it('stops the last thing started first', async () => {
    const stopped: string[] = [];
    const stack = createStopStack(capture().logger);
    for (const name of ['database pool', 'bus', 'gateway']) stack.push(name, async () => void stopped.push(name));
    await stack.stopAll();
    expect(stopped).toEqual(['gateway', 'bus', 'database pool']);
  });

  it('goes on past a failing stop, logs it, and throws the first failure at the end', async () => {
    const { logger, lines } = capture();
    const stopped: string[] = [];
    const stack = createStopStack(logger);
    stack.push('database pool', () => void stopped.push('database pool'));
    stack.push('bus', () => Promise.reject(new Error('bus would not close')));
    stack.push('worker', () => {
      throw new Error('worker would not stop');
    });
    await expect(stack.stopAll()).rejects.toThrow('worker would not stop');
    expect(stopped).toEqual(['database pool']);
    expect(lines.map((line) => line.msg)).toEqual(['stopping worker failed', 'stopping bus failed']);
  });

  it('stops each thing once when asked twice (a signal during a failed start-up)', async () => {
    let stops = 0;
    let release!: () => void;
    const stack = createStopStack(capture().logger);
    stack.push('embedded PostgreSQL', () => {
      stops++;
      return new Promise<void>((resolve) => (release = resolve));
    });
    const first = stack.stopAll();
    const second = stack.stopAll();
    release();
    await Promise.all([first, second]);
    expect(stops).toBe(1);
  });
});
