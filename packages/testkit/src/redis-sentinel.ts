/**
 * Redis with a replica and Sentinels on loopback: a primary, a replica of it, and three Sentinels watching them that
 * promote the replica when the primary goes (or when asked to fail over), as a production Redis with failover runs.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathDirs, requireBinary, searchDescription } from './binaries.js';
import { makeTempDir } from './cleanup.js';
import { ManagedServer, ManagedServerHandle } from './managed-server.js';
import { startRedis, type RedisHandle, type RedisStartOptions } from './redis.js';
import { redisRequest, type RespValue } from './resp.js';
import type { ServerHandle, ServerStartOptions } from './server-handle.js';
import { waitFor } from './wait.js';

export interface RedisSentinelHandle {
  /** The name the Sentinels know the primary by (`REDIS_SENTINEL_NAME`). */
  readonly masterName: string;
  /** The two Redis servers: the first started as the primary, the second as its replica. */
  readonly nodes: readonly RedisHandle[];
  readonly sentinels: readonly ServerHandle[];
  /** The Sentinels as `127.0.0.1:<port>` separated by commas (`REDIS_SENTINELS`). */
  readonly sentinelAddresses: string;
  /** The node the Sentinels name as the primary now. */
  primary(): Promise<RedisHandle>;
  /**
   * Asks the Sentinels to fail over (`SENTINEL FAILOVER`: the replica is promoted once it has caught up) and resolves
   * once they name the other node as primary.
   */
  failover(timeoutMs?: number): Promise<RedisHandle>;
  /** Resolves once the Sentinels name a node other than `old` as the primary (after `old` was killed, say). */
  waitForNewPrimary(old: RedisHandle, timeoutMs?: number): Promise<RedisHandle>;
  /** Resolves once every running replica of the current primary has its link up. */
  waitForReplication(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisSentinelStartOptions extends ServerStartOptions {
  /** How long the Sentinels wait before they hold an unanswering primary down. Default 1000 ms. */
  downAfterMs?: number;
}

const MASTER_NAME = 'tl';

class SentinelHandle extends ManagedServerHandle {
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
}

/** `INFO replication` as a map of its `key:value` lines. */
async function replicationInfo(port: number): Promise<Map<string, string>> {
  const text = await redisRequest(port, ['INFO', 'replication']);
  if (typeof text !== 'string') throw new Error(`INFO replication: unexpected reply ${String(text)}`);
  return new Map(
    text
      .split('\r\n')
      .filter((line) => line.includes(':'))
      .map(
        (line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)] as [string, string],
      ),
  );
}

/**
 * Starts a primary, a replica and three Sentinels (quorum 2) on free ports of 127.0.0.1 and resolves once the
 * replica is in sync and the Sentinels have found each other and the replica (`SENTINEL CKQUORUM`).
 */
export async function startRedisSentinel(opts: RedisSentinelStartOptions = {}): Promise<RedisSentinelHandle> {
  const binary = requireBinary(
    'redis-server',
    'apt-get install redis-server',
    opts.binDirs ?? pathDirs(),
    searchDescription(opts.binDirs),
  );
  const common: RedisStartOptions = {
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.startTimeoutMs ? { startTimeoutMs: opts.startTimeoutMs } : {}),
    ...(opts.stopTimeoutMs ? { stopTimeoutMs: opts.stopTimeoutMs } : {}),
    ...(opts.binDirs ? { binDirs: opts.binDirs } : {}),
  };
  const first = await startRedis(common);
  const started: { stop(): Promise<void> }[] = [first];
  try {
    const second = await startRedis({ ...common, replicaOf: first.port });
    started.push(second);
    const nodes = [first, second];
    const sentinels: ServerHandle[] = [];
    for (let i = 0; i < 3; i++) {
      const dir = makeTempDir('throughline-sentinel-');
      const conf = join(dir, 'sentinel.conf');
      const server = await ManagedServer.start({
        kind: 'redis-sentinel',
        dataDir: dir,
        stopSignal: 'SIGTERM',
        logger: opts.logger,
        startTimeoutMs: opts.startTimeoutMs,
        stopTimeoutMs: opts.stopTimeoutMs,
        launch: (port) => {
          // A Sentinel rewrites its file with what it learns (replicas, other Sentinels, epochs); a restart keeps it.
          if (!existsSync(conf))
            writeFileSync(
              conf,
              [
                `port ${port}`,
                'bind 127.0.0.1',
                `dir ${dir}`,
                `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${first.port} 2`,
                `sentinel down-after-milliseconds ${MASTER_NAME} ${opts.downAfterMs ?? 1_000}`,
                `sentinel failover-timeout ${MASTER_NAME} 10000`,
                `sentinel parallel-syncs ${MASTER_NAME} 1`,
                '',
              ].join('\n'),
            );
          return { command: binary, args: [conf, '--sentinel'], cwd: dir };
        },
        isReady: async (port) => (await redisRequest(port, ['PING'])) === 'PONG',
      });
      const handle = new SentinelHandle(server);
      sentinels.push(handle);
      started.push(handle);
    }

    const primaryPort = async (): Promise<number | undefined> => {
      for (const sentinel of sentinels) {
        if (sentinel.pid === undefined) continue;
        const reply = await redisRequest(sentinel.port, [
          'SENTINEL',
          'get-master-addr-by-name',
          MASTER_NAME,
        ]).catch(() => undefined);
        if (Array.isArray(reply) && typeof reply[1] === 'string') return Number(reply[1]);
      }
      return undefined;
    };
    const nodeAt = (port: number | undefined): RedisHandle | undefined => nodes.find((n) => n.port === port);
    const handle: RedisSentinelHandle = {
      masterName: MASTER_NAME,
      nodes,
      sentinels,
      get sentinelAddresses() {
        return sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
      },
      async primary() {
        const node = nodeAt(await primaryPort());
        if (node === undefined) throw new Error('no Sentinel names a primary');
        return node;
      },
      async waitForNewPrimary(old, timeoutMs = 30_000) {
        return waitFor(
          async () => {
            const node = nodeAt(await primaryPort());
            if (node === undefined || node === old) return undefined;
            // Promoted, and answering as a primary.
            return (await replicationInfo(node.port)).get('role') === 'master' ? node : undefined;
          },
          {
            timeoutMs,
            intervalMs: 100,
            message: `the Sentinels did not promote a new primary within ${timeoutMs} ms`,
          },
        );
      },
      async failover(timeoutMs = 30_000) {
        const old = await handle.primary();
        const reply: RespValue = await redisRequest(sentinels[0]!.port, [
          'SENTINEL',
          'FAILOVER',
          MASTER_NAME,
        ]);
        if (reply instanceof Error) throw new Error(`SENTINEL FAILOVER: ${reply.message}`);
        return handle.waitForNewPrimary(old, timeoutMs);
      },
      async waitForReplication(timeoutMs = 30_000) {
        await waitFor(
          async () => {
            const primary = await handle.primary();
            for (const node of nodes) {
              if (node === primary || node.pid === undefined) continue;
              const info = await replicationInfo(node.port);
              if (info.get('master_port') !== String(primary.port) || info.get('master_link_status') !== 'up')
                return false;
            }
            return true;
          },
          {
            timeoutMs,
            intervalMs: 100,
            message: `the replica did not sync with the primary within ${timeoutMs} ms`,
          },
        );
      },
      async stop() {
        await Promise.allSettled(started.map((s) => s.stop()));
      },
    };
    await handle.waitForReplication();
    await waitFor(
      async () => {
        const reply = await redisRequest(sentinels[0]!.port, ['SENTINEL', 'CKQUORUM', MASTER_NAME]);
        const replicas = await redisRequest(sentinels[0]!.port, ['SENTINEL', 'REPLICAS', MASTER_NAME]);
        return (
          typeof reply === 'string' &&
          /3 usable Sentinels/.test(reply) &&
          Array.isArray(replicas) &&
          replicas.length === 1
        );
      },
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: 'the Sentinels did not find each other and the replica',
      },
    );
    return handle;
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.stop()));
    throw err;
  }
}
