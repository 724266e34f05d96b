import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that nothing listens on now (the kernel's pick). Another process
 * may take it before the caller binds it: use it for a child that is started right away.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}
