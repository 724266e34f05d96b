import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createCoalescedSends } from './coalesced-sends';
import type { Socket } from './session';

describe('coalesced sends', () => {
  const setup = () => {
    const writes: Array<[string, string[]]> = [];
    const sockets = new Map<string, Socket>();
    const socket = (name: string) => {
      if (!sockets.has(name)) sockets.set(name, { name } as unknown as Socket);
      return sockets.get(name)!;
    };
    const nameOf = (ws: Socket) => (ws as unknown as { name: string }).name;
    const sends = createCoalescedSends((ws, frames) => writes.push([nameOf(ws), [...frames]]));
    return { writes, socket, sends };
  };

  it('writes the frames queued in one turn once per socket, in the order queued', async () => {
    const { writes, socket, sends } = setup();
    sends.later(socket('a'), 'a1');
    sends.later(socket('b'), 'b1');
    sends.later(socket('a'), 'a2');
    sends.later(socket('a'), 'a3');
    expect(writes).toEqual([]);
    await nextTurn();
    expect(writes).toEqual([
      ['a', ['a1', 'a2', 'a3']],
      ['b', ['b1']],
    ]);
    // The next turn starts afresh.
    sends.later(socket('b'), 'b2');
    await nextTurn();
    expect(writes.slice(2)).toEqual([['b', ['b2']]]);
  });

  it('writes a socket’s queued frames at once when flushed, and nothing twice', async () => {
    const { writes, socket, sends } = setup();
    sends.later(socket('a'), 'a1');
    sends.later(socket('b'), 'b1');
    sends.flush(socket('a'));
    sends.flush(socket('c')); // nothing queued: nothing written
    expect(writes).toEqual([['a', ['a1']]]);
    await nextTurn();
    expect(writes).toEqual([
      ['a', ['a1']],
      ['b', ['b1']],
    ]);
  });
});
