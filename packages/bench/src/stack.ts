/**
 * The pipeline under test: nats-server, redis-server and PostgreSQL from the test kit (or given by URL), and the
 * five services as separate processes, the way packages/e2e starts them.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { IngestServiceClient } from '@throughline/contracts';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';
import {
  spawnService,
  startNats,
  startPostgres,
  startRedis,
  waitForReady,
  type ReadyPorts,
  type ServiceProcess,
} from '@throughline/testkit';

const require = createRequire(import.meta.url);

function mainOf(app: string): string {
  return join(dirname(require.resolve(`@throughline/${app}/package.json`)), 'dist', 'main.js');
}

/** The servers a run uses: started by the test kit, with their pids for CPU accounting. */
export interface Servers {
  natsUrl: string;
  redisUrl: string;
  /** A fresh database for this run. */
  databaseUrl: string;
  pids: number[];
  /** Each server's pid by name (nats, redis, postgres), for CPU accounting per server. */
  pidsByName: Record<string, number>;
  stop(): Promise<void>;
}

export async function startServers(): Promise<Servers> {
  const [nats, redis, postgres] = await Promise.all([startNats(), startRedis(), startPostgres()]);
  const databaseUrl = await postgres.createDatabase('throughline');
  const pidsByName: Record<string, number> = {};
  for (const [name, pid] of [
    ['nats', nats.pid],
    ['redis', redis.pid],
    ['postgres', postgres.pid],
  ] as const)
    if (pid !== undefined) pidsByName[name] = pid;
  return {
    natsUrl: nats.url,
    redisUrl: redis.url,
    databaseUrl,
    pids: Object.values(pidsByName),
    pidsByName,
    async stop() {
      await Promise.allSettled([nats.stop(), redis.stop(), postgres.stop()]);
    },
  };
}

export interface PipelineStackOptions {
  servers: Servers;
  partitions: number;
  /** Environment for every service (mode, features, latency, turn sizes). */
  env: Record<string, string>;
  /** Node.js flags for every service besides SERVICE_NODE_FLAGS (`--cpu-prof --cpu-prof-dir=…` to profile a run). */
  nodeArgs?: readonly string[];
}

export interface PipelineStack {
  ingest: IngestServiceClient;
  pool: pg.Pool;
  services: Map<string, ServiceProcess>;
  /** /metrics port of each stage service. */
  httpPorts: Map<string, number>;
  pids(): number[];
  stop(): Promise<void>;
}

export async function startPipeline(opts: PipelineStackOptions): Promise<PipelineStack> {
  const env: Record<string, string> = {
    NATS_URL: opts.servers.natsUrl,
    REDIS_URL: opts.servers.redisUrl,
    DATABASE_URL: opts.servers.databaseUrl,
    PARTITION_COUNT: String(opts.partitions),
    LOG_LEVEL: 'info',
    SHUTDOWN_TIMEOUT_MS: '5000',
    HTTP_ADDRESS: '127.0.0.1:0',
    GRPC_ADDRESS: '127.0.0.1:0',
    ...opts.env,
  };
  const services = new Map<string, ServiceProcess>();
  const start = (app: string, extra: Record<string, string> = {}): ServiceProcess => {
    const service = spawnService({
      name: app,
      command: process.execPath,
      args: [...SERVICE_NODE_FLAGS, ...(opts.nodeArgs ?? []), mainOf(app)],
      env: { ...env, ...extra },
    });
    services.set(app, service);
    return service;
  };
  const httpPorts = new Map<string, number>();
  const ready = async (s: ServiceProcess): Promise<ReadyPorts> => {
    const ports = await waitForReady(s, { timeoutMs: 60_000 });
    httpPorts.set(s.name, ports.httpPort);
    return ports;
  };
  const grpcPort = async (s: ServiceProcess): Promise<number> => (await ready(s)).grpcPort();
  // Ingest and config bind port 0 and report the port they got: a port picked in advance can be taken meanwhile.
  let ingestPort: number;
  try {
    // The config service seeds the demo tenants; the writer migrates the schema under the same lock.
    const configPort = await grpcPort(start('config', { SEED_DEMO_TENANTS: 'true' }));
    env.CONFIG_ADDRESS = `127.0.0.1:${configPort}`;
    await ready(start('writer'));
    [ingestPort] = await Promise.all([
      grpcPort(start('ingest')),
      ready(start('enrich')),
      ready(start('state')),
    ]);
  } catch (err) {
    await Promise.allSettled([...services.values()].map((s) => s.kill('SIGKILL')));
    throw err;
  }
  const pool = new pg.Pool({ connectionString: opts.servers.databaseUrl, max: 2 });
  // An idle connection dies when the run stops its PostgreSQL: expected, not a failure.
  pool.on('error', () => undefined);
  const ingest = new IngestServiceClient(`127.0.0.1:${ingestPort}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  return {
    ingest,
    pool,
    services,
    httpPorts,
    pids: () => [...services.values()].map((s) => s.pid).filter((p): p is number => p !== undefined),
    async stop() {
      ingest.close();
      await pool.end().catch(() => undefined);
      // Node.js writes a --cpu-prof profile only when the process exits by itself: let the services drain then.
      const signal = opts.nodeArgs?.length ? 'SIGTERM' : 'SIGKILL';
      await Promise.allSettled([...services.values()].map((s) => s.kill(signal)));
    },
  };
}
