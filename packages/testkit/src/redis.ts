import { pathDirs, requireBinary, searchDescription } from './binaries.js';
import { makeTempDir } from './cleanup.js';
import { CommandFailedError } from './errors.js';
import { ManagedServer, ManagedServerHandle } from './managed-server.js';
import type { ServerHandle, ServerStartOptions } from './server-handle.js';
import { readFirstLine } from './socket-probe.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

export interface RedisHandle extends ServerHandle {
  /** Deletes every key of every database (FLUSHALL). */
  flushAll(): Promise<void>;
}

export interface RedisStartOptions extends ServerStartOptions {
  /** Turn on the append-only file, so that writes survive `kill()`/`restart()`. Default: false. */
  appendOnly?: boolean;
  /**
   * Serve TLS only (no plaintext port): the server's certificate and key, the CA of both sides and, when clients
   * must present a certificate (`tls-auth-clients yes`), one for the readiness probe. `url` is then
   * `rediss://localhost:<port>`.
   */
  tls?: { cert: string; key: string; ca: string; clientCert?: { cert: string; key: string } };
  /**
   * ACL users, each a `user` directive's rules (`['throughline', 'on', '>secret', '~tl:*', '+@all']`). When given,
   * the `default` user is turned off: every client must authenticate.
   */
  users?: string[][];
  /** Start as a replica of the Redis on 127.0.0.1:`replicaOf` (`--replicaof`). */
  replicaOf?: number;
}

class RedisServerHandle extends ManagedServerHandle implements RedisHandle {
  constructor(
    server: ManagedServer,
    private readonly tls: boolean,
  ) {
    super(server);
  }

  get url(): string {
    return this.tls ? `rediss://localhost:${this.port}` : `redis://127.0.0.1:${this.port}`;
  }

  async flushAll(): Promise<void> {
    if (this.tls) throw new Error('flushAll needs the plaintext port: this Redis serves TLS only');
    const reply = await redisCommand(this.port, ['FLUSHALL']);
    if (reply !== '+OK') throw new CommandFailedError('FLUSHALL', [], reply);
  }
}

/**
 * Starts a redis-server on a free port of 127.0.0.1 with snapshots off (`--save ''`) and its files in a fresh
 * temp dir. Ready once PING answers PONG (not LOADING).
 */
export async function startRedis(opts: RedisStartOptions = {}): Promise<RedisHandle> {
  const binary = requireBinary(
    'redis-server',
    'apt-get install redis-server',
    opts.binDirs ?? pathDirs(),
    searchDescription(opts.binDirs),
  );
  const dataDir = makeTempDir('throughline-redis-');
  const tls = opts.tls;
  // The readiness probe trusts the server's CA and, when the server verifies clients, shows its own certificate.
  const probeTls =
    tls === undefined
      ? undefined
      : {
          ca: readFileSync(tls.ca),
          servername: 'localhost',
          ...(tls.clientCert === undefined
            ? {}
            : { cert: readFileSync(tls.clientCert.cert), key: readFileSync(tls.clientCert.key) }),
        };
  const server = await ManagedServer.start({
    kind: 'redis-server',
    dataDir,
    stopSignal: 'SIGTERM',
    logger: opts.logger,
    startTimeoutMs: opts.startTimeoutMs,
    stopTimeoutMs: opts.stopTimeoutMs,
    launch: (port) => ({
      command: binary,
      args: [
        ...(tls === undefined
          ? ['--port', String(port)]
          : [
              '--port',
              '0',
              '--tls-port',
              String(port),
              '--tls-cert-file',
              tls.cert,
              '--tls-key-file',
              tls.key,
              '--tls-ca-cert-file',
              tls.ca,
              '--tls-auth-clients',
              tls.clientCert === undefined ? 'no' : 'yes',
            ]),
        ...(opts.users === undefined
          ? []
          : [...opts.users.flatMap((rules) => ['--user', ...rules]), '--user', 'default', 'off']),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        opts.appendOnly ? 'yes' : 'no',
        '--dir',
        dataDir,
        '--daemonize',
        'no',
        ...(opts.replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(opts.replicaOf)]),
      ],
      cwd: dataDir,
    }),
    // Ready once it answers: PONG, or (with ACL users) a refusal to an unauthenticated client.
    isReady: async (port) => /^(\+PONG|-NOAUTH|-NOPERM)/.test(await redisCommand(port, ['PING'], probeTls)),
  });
  return new RedisServerHandle(server, tls !== undefined);
}

/** Sends one command over a fresh connection and returns the first line of the reply (e.g. `+OK`, `$5`). */
export function redisCommand(
  port: number,
  args: readonly string[],
  tls?: ConnectionOptions,
): Promise<string> {
  const encoded = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
  return readFirstLine(port, `*${args.length}\r\n${encoded}`, 2_000, tls);
}

/**
 * The `user` lines of an ACL file (deploy/redis/users.acl) as `users` for `startRedis`, the `default` user's line
 * left out (`startRedis` turns it off) and each `#<sha256 of the password>` filled in with `password`'s hash.
 */
export function aclFileUsers(text: string, password: string): string[][] {
  const sha = createHash('sha256').update(password).digest('hex');
  return text
    .split('\n')
    .filter((line) => line.startsWith('user ') && !line.startsWith('user default '))
    .map((line) => line.replace('#<sha256 of the password>', `#${sha}`).trim().split(/\s+/).slice(1));
}
