/**
 * Starts the five services as separate processes against test-kit servers, and the clients a test needs.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { connectJetStreamBus, type Bus } from '@throughline/bus';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';
import { ConfigServiceClient, IngestServiceClient, type Event, type Topic } from '@throughline/contracts';
import {
  spawnService,
  startNats,
  startPostgres,
  startRedis,
  waitFor,
  waitForReady,
  type NatsHandle,
  type PostgresHandle,
  type ReadyPorts,
  type RedisHandle,
  type ServiceProcess,
} from '@throughline/testkit';

const require = createRequire(import.meta.url);

function mainOf(app: string): string {
  return join(dirname(require.resolve(`@throughline/${app}/package.json`)), 'dist', 'main.js');
}

export interface StackOptions {
  partitions?: number;
  enrichInstances?: number;
  stateInstances?: number;
  writerInstances?: number;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /** Extra environment for one kind of service (`config`, `ingest`, `enrich`, `state`, `writer`). */
  serviceEnv?: Partial<Record<string, Record<string, string>>>;
}

export interface Stack {
  nats: NatsHandle;
  redis: RedisHandle;
  postgres: PostgresHandle;
  databaseUrl: string;
  pool: pg.Pool;
  bus: Bus;
  services: Map<string, ServiceProcess>;
  ingest: IngestServiceClient;
  config: ConfigServiceClient;
  ingestAddress: string;
  configAddress: string;
  /** Port of each service's /healthz, /readyz and /metrics, by service name (as of its first start). */
  httpPorts: Map<string, number>;
  partitions: number;
  /** Starts one more instance of a stage (`enrich`, `state`, `writer`) and waits until it is ready. */
  addInstance(app: string, env?: Record<string, string>): Promise<ServiceProcess>;
  /** The running instances of a stage, oldest first. */
  instances(app: string): ServiceProcess[];
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const partitions = opts.partitions ?? 8;
  const [nats, redis, postgres] = await Promise.all([startNats(), startRedis(), startPostgres()]);
  const databaseUrl = await postgres.createDatabase('throughline');
  const env: Record<string, string> = {
    NATS_URL: nats.url,
    REDIS_URL: redis.url,
    DATABASE_URL: databaseUrl,
    PARTITION_COUNT: String(partitions),
    LOG_LEVEL: 'info',
    BUS_ACK_WAIT_MS: '4000',
    SHUTDOWN_TIMEOUT_MS: '10000',
    HTTP_ADDRESS: '127.0.0.1:0',
    GRPC_ADDRESS: '127.0.0.1:0',
    ...opts.env,
  };
  const services = new Map<string, ServiceProcess>();
  const start = (name: string, app: string, extra: Record<string, string>): ServiceProcess => {
    const service = spawnService({
      name,
      command: process.execPath,
      args: [...SERVICE_NODE_FLAGS, mainOf(app)],
      env: { ...env, ...opts.serviceEnv?.[app], ...extra },
    });
    services.set(name, service);
    return service;
  };

  // Ingest and config bind port 0 and report the port they got: a port picked in advance can be taken meanwhile.
  // The writer migrates the schema; the config service does too, under the same advisory lock.
  const httpPorts = new Map<string, number>();
  const ready = async (s: ServiceProcess): Promise<ReadyPorts> => {
    const ports = await waitForReady(s, { timeoutMs: 30_000 });
    httpPorts.set(s.name, ports.httpPort);
    return ports;
  };
  const config = start('config', 'config', { SEED_DEMO_TENANTS: 'true' });
  const configPort = (await ready(config)).grpcPort();
  env.CONFIG_ADDRESS = `127.0.0.1:${configPort}`;
  // Instances of a stage are named `<app>-<n>` (`enrich` alone when it is the only one ever started).
  const started = new Map<string, number>();
  const startInstance = (app: string, extra: Record<string, string> = {}): ServiceProcess => {
    const n = started.get(app) ?? 0;
    started.set(app, n + 1);
    return start(
      app === 'enrich' && n === 0 && (opts.enrichInstances ?? 1) === 1 ? 'enrich' : `${app}-${n}`,
      app,
      {
        INSTANCE_ID: `${app}-${n}`,
        ...extra,
      },
    );
  };
  const ingestService = start('ingest', 'ingest', {});
  const starting: ServiceProcess[] = [];
  const counts: [string, number][] = [
    ['enrich', opts.enrichInstances ?? 1],
    ['state', opts.stateInstances ?? 2],
    ['writer', opts.writerInstances ?? 2],
  ];
  for (const [app, count] of counts) for (let i = 0; i < count; i++) starting.push(startInstance(app));
  const [ingestReady] = await Promise.all([ready(ingestService), ...starting.map(ready)]);
  const ingestPort = ingestReady.grpcPort();

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  // Idle connections die when a test stops PostgreSQL; that is expected, not a failure of the test.
  pool.on('error', () => undefined);
  const bus = await connectJetStreamBus({ servers: nats.url, name: 'e2e-test' });
  const ingest = new IngestServiceClient(`127.0.0.1:${ingestPort}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  const configClient = new ConfigServiceClient(`127.0.0.1:${configPort}`, grpc.credentials.createInsecure());
  return {
    nats,
    redis,
    postgres,
    databaseUrl,
    pool,
    bus,
    services,
    ingest,
    config: configClient,
    ingestAddress: `127.0.0.1:${ingestPort}`,
    httpPorts,
    configAddress: `127.0.0.1:${configPort}`,
    partitions,
    async addInstance(app, extra = {}) {
      const service = startInstance(app, extra);
      await ready(service);
      return service;
    },
    instances: (app) =>
      [...services.values()].filter(
        (s) => (s.name === app || s.name.startsWith(`${app}-`)) && s.pid !== undefined,
      ),
    async stop() {
      ingest.close();
      configClient.close();
      await Promise.allSettled([...services.values()].map((s) => s.kill('SIGTERM')));
      await bus.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await Promise.allSettled([nats.stop(), redis.stop(), postgres.stop()]);
    },
  };
}

/** Sends events in requests of `batchSize`, `concurrency` requests at a time; returns events/s. */
export async function sendEvents(
  client: IngestServiceClient,
  events: Event[],
  opts: { batchSize?: number; concurrency?: number } = {},
): Promise<number> {
  const batchSize = opts.batchSize ?? 1000;
  const concurrency = opts.concurrency ?? 8;
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < events.length) {
      const chunk = events.slice(next, next + batchSize);
      next += batchSize;
      await publishWithRetry(client, chunk);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return events.length / ((performance.now() - started) / 1000);
}

/** PublishBatch, retrying RESOURCE_EXHAUSTED after its hint and UNAVAILABLE after a pause (a client would). */
export async function publishWithRetry(client: IngestServiceClient, events: Event[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await publishBatch(client, events);
      return;
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (attempt > 50 || (e.code !== grpc.status.RESOURCE_EXHAUSTED && e.code !== grpc.status.UNAVAILABLE))
        throw err;
      const hint = Number(e.metadata?.get('retry-after-ms')[0] ?? 200);
      await new Promise((r) => setTimeout(r, hint));
    }
  }
}

export function publishBatch(client: IngestServiceClient, events: Event[]): Promise<number> {
  return new Promise((resolve, reject) => {
    client.publishBatch({ events }, (err, res) => (err ? reject(err) : resolve(res.accepted)));
  });
}

export async function ledgerCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger');
  return Number(rows[0]?.n ?? 0);
}

/** Waits until the ledger holds `expected` rows. */
export async function waitForLedger(pool: pg.Pool, expected: number, timeoutMs = 180_000): Promise<void> {
  await waitFor(async () => (await ledgerCount(pool)) >= expected, {
    timeoutMs,
    intervalMs: 250,
    message: `ledger did not reach ${expected} rows`,
  });
}

/** Waits until every stage consumer of every partition has nothing pending or unacked. */
export async function waitForIdle(stack: Stack, timeoutMs = 120_000): Promise<void> {
  const groups: [string, Topic][] = [
    ['enrich', 'ingested'],
    ['state', 'enriched'],
    ['writer', 'applied'],
  ];
  await waitFor(
    async () => {
      for (const [group, topic] of groups) {
        for (let p = 0; p < stack.partitions; p++) {
          const b = await stack.bus.backlog({ group, topic, partition: p });
          if (b.pending > 0 || b.ackPending > 0) return false;
        }
      }
      return true;
    },
    { timeoutMs, intervalMs: 250, message: 'pipeline did not become idle' },
  );
}

export async function balancesSnapshot(pool: pg.Pool): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ account_id: string; balance_minor: string }>(
    'SELECT account_id, balance_minor::text FROM balances ORDER BY account_id',
  );
  return new Map(rows.map((r) => [r.account_id, r.balance_minor]));
}
