/**
 * A TCP forwarder on a free port of 127.0.0.1: the stable address a failover moves from one server to another (a
 * virtual IP, a Kubernetes Service in front of whichever PostgreSQL is primary). Moving it closes every open
 * connection, as a failover does; new connections go to the new target.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** The port connections are forwarded to now. */
  readonly target: number;
  /** Forwards new connections to `port` from now on and resets every open one. */
  retarget(port: number): void;
  /** Stops listening and resets every open connection. */
  close(): Promise<void>;
}

/** Starts forwarding 127.0.0.1:<free port> to 127.0.0.1:`targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  const open = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    open.add(client);
    open.add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const resetAll = (): void => {
    for (const socket of open) socket.resetAndDestroy();
    open.clear();
  };
  return {
    port,
    get target() {
      return target;
    },
    retarget(next) {
      target = next;
      resetAll();
    },
    async close() {
      resetAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
