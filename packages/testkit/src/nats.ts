import { pathDirs, requireBinary, searchDescription } from './binaries.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './cleanup.js';
import { ManagedServer, ManagedServerHandle } from './managed-server.js';
import type { ServerHandle, ServerStartOptions } from './server-handle.js';
import { readFirstLine } from './socket-probe.js';

export interface NatsHandle extends ServerHandle {
  /** JetStream's store directory (`-sd`); survives `kill()`/`restart()`, removed by `stop()`. */
  readonly storeDir: string;
}

export interface NatsStartOptions extends ServerStartOptions {
  /**
   * nats-server configuration (its own format) added to the command line's: accounts and users, authorization,
   * TLS. Written to a file in the store directory; the address, port and JetStream flags still come from here.
   */
  config?: string;
  /** The nats-server executable to run, instead of looking for one (see `natsServerAtLeast`). */
  binary?: string;
}

class NatsServerHandle extends ManagedServerHandle implements NatsHandle {
  constructor(
    server: ManagedServer,
    readonly storeDir: string,
  ) {
    super(server);
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }
}

/**
 * Starts a nats-server with JetStream on a free port of 127.0.0.1, storing into a fresh temp dir.
 * Ready once a client connection is greeted with an INFO line that announces JetStream.
 */
export async function startNats(opts: NatsStartOptions = {}): Promise<NatsHandle> {
  return launchNats(opts, []);
}

/**
 * Starts one nats-server as `startNats` does, with `extraArgs` after the defaults (a cluster node's name, routes and
 * monitoring port).
 */
export async function launchNats(opts: NatsStartOptions, extraArgs: readonly string[]): Promise<NatsHandle> {
  const binary =
    opts.binary ??
    requireBinary(
      'nats-server',
      'apt-get install nats-server',
      opts.binDirs ?? pathDirs(),
      searchDescription(opts.binDirs),
    );
  const storeDir = makeTempDir('throughline-nats-');
  const configArgs: string[] = [];
  if (opts.config !== undefined) {
    const file = join(storeDir, 'nats-server.conf');
    writeFileSync(file, opts.config);
    configArgs.push('-c', file);
  }
  const server = await ManagedServer.start({
    kind: 'nats-server',
    dataDir: storeDir,
    stopSignal: 'SIGTERM',
    logger: opts.logger,
    startTimeoutMs: opts.startTimeoutMs,
    stopTimeoutMs: opts.stopTimeoutMs,
    launch: (port) => ({
      command: binary,
      args: [...configArgs, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...extraArgs],
    }),
    isReady: async (port) => {
      const greeting = await readFirstLine(port);
      return greeting.startsWith('INFO ') && /"jetstream"\s*:\s*true/.test(greeting);
    },
  });
  return new NatsServerHandle(server, storeDir);
}
