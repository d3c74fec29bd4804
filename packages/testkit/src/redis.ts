import { pathDirs, requireBinary, searchDescription } from './binaries.js';
import { makeTempDir } from './cleanup.js';
import { CommandFailedError } from './errors.js';
import { ManagedServer, ManagedServerHandle } from './managed-server.js';
import type { ServerHandle, ServerStartOptions } from './server-handle.js';
import { readFirstLine } from './socket-probe.js';

export interface RedisHandle extends ServerHandle {
  /** Deletes every key of every database (FLUSHALL). */
  flushAll(): Promise<void>;
}

export interface RedisStartOptions extends ServerStartOptions {
  /** Turn on the append-only file, so that writes survive `kill()`/`restart()`. Default: false. */
  appendOnly?: boolean;
}

class RedisServerHandle extends ManagedServerHandle implements RedisHandle {
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async flushAll(): Promise<void> {
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
        '--port',
        String(port),
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
      ],
      cwd: dataDir,
    }),
    isReady: async (port) => (await redisCommand(port, ['PING'])) === '+PONG',
  });
  return new RedisServerHandle(server);
}

/** Sends one command over a fresh connection and returns the first line of the reply (e.g. `+OK`, `$5`). */
export function redisCommand(port: number, args: readonly string[]): Promise<string> {
  const encoded = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
  return readFirstLine(port, `*${args.length}\r\n${encoded}`);
}
