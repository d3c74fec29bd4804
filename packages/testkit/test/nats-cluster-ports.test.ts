/**
 * A route port chosen for a node and taken by another process before the node binds it: the cluster starts on
 * other ports instead of failing (CI saw "bind: address already in use" on a router port once).
 */
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';

let taken: Server;
let takenPort: number;
let handedOut = 0;

vi.mock('../src/ports.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/ports.js')>();
  return {
    ...real,
    // The first port handed out (the first node's route port) is one another process holds.
    freePort: async () => (handedOut++ === 0 ? takenPort : real.freePort()),
  };
});

beforeAll(async () => {
  // Whatever connects (the first attempt's other nodes routing to it) is hung up on.
  taken = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  takenPort = (taken.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise((resolve) => taken.close(resolve));
});

it('starts the cluster on other ports when a route port was taken in between', async () => {
  const { startNatsCluster } = await import('../src/nats-cluster.js');
  const cluster = await startNatsCluster();
  try {
    expect(cluster.nodes).toHaveLength(3);
    await cluster.waitHealthy();
    // The taken port was handed out, and the second attempt chose others.
    expect(handedOut).toBeGreaterThan(6);
  } finally {
    await cluster.stop();
  }
}, 120_000);
