/**
 * Which nats-server versions keep the copies of a stream consistent enough for `streamReplicas` above 1.
 *
 * On nats-server 2.9 a work-queue stream removes an acknowledged message from each server's copy as that server
 * applies the ack, outside the stream's replicated log: measured on 2.9.10 (three nodes, one consumer, 600
 * messages through a kill -9 and restart of the stream's leader), the restarted copy kept 91 to 160 messages the
 * two others had removed, and once it led the stream its copy disagreed with the consumers' state — the pipeline's
 * clustered run lost acknowledged events in 2 of 7 runs. The same reproduction on 2.10.27 and 2.15.1 left the
 * three copies equal.
 */
import { createConnection } from 'node:net';

/**
 * Where the line is drawn: the 2.10 series. Measured consistent on 2.10.27 and 2.15.1; earlier 2.10 releases were
 * not measured. Every node of the cluster must run it: the check reads the version of the node a service is
 * connected to and of every other node that node advertises and that answers (`peerVersions`).
 */
export const REPLICAS_SAFE_SINCE = '2.10.0';

/** `major.minor.patch` of a server version string (`2.9.10`, `2.10.27-beta`), or undefined. */
export function parseServerVersion(version: string | undefined): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Whether `version` is at least `REPLICAS_SAFE_SINCE`; an unreadable version is taken as new enough. */
export function replicasAreSafeOn(version: string | undefined): boolean {
  const parsed = parseServerVersion(version);
  const since = parseServerVersion(REPLICAS_SAFE_SINCE)!;
  if (parsed === undefined) return true;
  for (let i = 0; i < 3; i++) if (parsed[i] !== since[i]) return parsed[i]! > since[i]!;
  return true;
}

/** A server of the cluster and the version it announced (`undefined` when it could not be read). */
export interface PeerVersion {
  readonly address: string;
  readonly version: string | undefined;
}

/**
 * The versions the cluster's other servers announce: a server greets every client connection with an INFO line
 * (before any credentials or TLS, unless it is set to start with TLS), so each address the connected server
 * advertises (`connect_urls`) is asked with a plain TCP connection that reads that line and closes. An address that
 * gives no INFO line within `timeoutMs` (a node down or unreachable, TLS first, the connection closed) gives
 * `undefined`, which the check takes as new enough; a cluster that advertises nothing (`no_advertise`) has only the
 * connected server checked.
 */
export async function peerVersions(addresses: readonly string[], timeoutMs = 2_000): Promise<PeerVersion[]> {
  return Promise.all(
    addresses.map(async (address) => ({ address, version: await greetingVersion(address, timeoutMs) })),
  );
}

function greetingVersion(address: string, timeoutMs: number): Promise<string | undefined> {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (match === null) return Promise.resolve(undefined);
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let buffered = '';
    let settled = false;
    const socket = createConnection({ host, port });
    // One deadline for the whole exchange: a server trickling bytes never holds the check longer.
    const deadline = setTimeout(() => done(undefined), timeoutMs);
    function done(version: string | undefined): void {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve(version);
    }
    socket.on('error', () => done(undefined));
    // Closed before a whole line came (a server shutting down, a proxy without a backend).
    socket.on('close', () => done(undefined));
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n');
      if (end < 0 && buffered.length < 64 * 1024) return;
      const line = end < 0 ? buffered : buffered.slice(0, end);
      if (!line.startsWith('INFO ')) return done(undefined);
      try {
        const info = JSON.parse(line.slice(5)) as { version?: unknown };
        done(typeof info.version === 'string' ? info.version : undefined);
      } catch {
        done(undefined);
      }
    });
  });
}
