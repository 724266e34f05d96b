// What the delivery code assumes of uWS topics (gateway/delivery/room.ts): frames reach a
// socket in program order whether they were published to its topic or sent to it
// directly; a socket gets exactly the topic frames published while it was subscribed.
// If a uWS upgrade changes any of this, seq delivery breaks: this test says so first.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadNativeUws, type UWS } from './uws';

interface Probe {
  name: string;
}

describe('uWS topic ordering', () => {
  const uws = loadNativeUws();
  const app = uws.App();
  const sockets = new Map<string, UWS.WebSocket<Probe>>();
  let listen: UWS.us_listen_socket;
  let port = 0;

  beforeAll(async () => {
    app.ws<Probe>('/*', {
      upgrade: (res, req, context) => {
        res.upgrade(
          { name: req.getQuery('name') ?? '' },
          req.getHeader('sec-websocket-key'),
          req.getHeader('sec-websocket-protocol'),
          req.getHeader('sec-websocket-extensions'),
          context,
        );
      },
      open: (ws) => {
        sockets.set(ws.getUserData().name, ws);
      },
    });
    listen = await new Promise((resolve, reject) => app.listen('127.0.0.1', 0, (token) => (token ? resolve(token) : reject(new Error('listen failed')))));
    port = uws.us_socket_local_port(listen as unknown as UWS.us_socket);
  });
  afterAll(() => {
    uws.us_listen_socket_close(listen);
    for (const ws of sockets.values()) ws.close();
  });

  async function client(name: string): Promise<{ ws: UWS.WebSocket<Probe>; received: string[]; settle(count: number): Promise<void> }> {
    const received: string[] = [];
    const peer = new WebSocket(`ws://127.0.0.1:${port}/?name=${name}`);
    peer.on('message', (data) => received.push(data.toString()));
    await new Promise((resolve) => peer.once('open', resolve));
    while (!sockets.has(name)) await sleep(5);
    return {
      ws: sockets.get(name)!,
      received,
      async settle(count) {
        const deadline = Date.now() + 3000;
        while (received.length < count && Date.now() < deadline) await sleep(10);
        await sleep(50);
      },
    };
  }

  it('keeps program order between topic publishes and direct sends to a subscriber', async () => {
    const a = await client('a');
    a.ws.subscribe('room');
    app.publish('room', 'p1');
    a.ws.send('d1');
    app.publish('room', 'p2');
    app.publish('room', 'p3');
    a.ws.send('d2');
    await a.settle(5);
    expect(a.received).toEqual(['p1', 'd1', 'p2', 'p3', 'd2']);
  });

  it('delivers what was published before an unsubscribe, and nothing published before a subscribe', async () => {
    const leaving = await client('leaving');
    const joining = await client('joining');
    leaving.ws.subscribe('room2');
    app.publish('room2', 'before');
    leaving.ws.send('removed');
    leaving.ws.unsubscribe('room2');
    joining.ws.subscribe('room2');
    app.publish('room2', 'after');
    await leaving.settle(2);
    await joining.settle(1);
    expect(leaving.received).toEqual(['before', 'removed']);
    expect(joining.received).toEqual(['after']);
  });
});
