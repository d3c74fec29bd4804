/**
 * Starts the five services as separate processes against test-kit servers (with the one stack launcher), and the
 * clients a test needs.
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RedisOptions } from 'ioredis';
import pg from 'pg';
import { connectJetStreamBus, type Bus, type NatsAuth } from '@throughline/bus';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';
import {
  ConfigServiceClient,
  IngestServiceClient,
  publishOnce,
  publishWithRetry as retried,
  type Event,
  type Topic,
} from '@throughline/contracts';
import { mainOf, OutputService, Stack as Launcher, type StageApp } from '@throughline/stack';
import {
  aclFileUsers,
  createTestPki,
  spawnService,
  startNats,
  startNatsCluster,
  startPostgres,
  startRedis,
  startRedisSentinel,
  startTcpProxy,
  waitFor,
  type NatsClusterHandle,
  type NatsHandle,
  type PostgresHandle,
  type PostgresStandbyHandle,
  type TcpProxy,
  type CertFiles,
  type RedisHandle,
  type RedisSentinelHandle,
  type RedisStartOptions,
  type ServiceProcess,
  type TestPki,
} from '@throughline/testkit';

/** deploy/: the shipped sample server configurations (nats/, redis/). */
const DEPLOY_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../deploy');
const NATS_DEPLOY_DIR = join(DEPLOY_DIR, 'nats');

export interface StackOptions {
  partitions?: number;
  enrichInstances?: number;
  stateInstances?: number;
  writerInstances?: number;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /** Extra environment for one kind of service (`config`, `ingest`, `enrich`, `state`, `writer`). */
  serviceEnv?: Partial<Record<string, Record<string, string>>>;
  /**
   * The services log in as a role of their own with a password, read from a file (DATABASE_PASSWORD_FILE), instead
   * of the trusted superuser: the test can rotate it.
   */
  databasePassword?: boolean;
  /**
   * NATS runs deploy/nats/sample-server.conf: mutual TLS (certificates of a test CA) and one user per service with
   * its least-privilege permissions (deploy/nats/permissions.conf). Each service gets its user from its NATS_*
   * settings; the test's own bus client is the operator (TL_ADMIN), and creates the streams before the services
   * start, as `throughline topology` does.
   */
  natsSecured?: boolean;
  /**
   * Redis serves TLS only, verifying client certificates, with the ACL of deploy/redis/users.acl; the state service
   * logs in as its user (REDIS_USERNAME, REDIS_PASSWORD_FILE, REDIS_TLS_*). `stack.redis.flushAll` is unavailable.
   */
  redisSecured?: boolean;
  /**
   * PostgreSQL serves SSL and refuses the services' role without it; the services connect with
   * `sslmode=verify-full` and the test CA. Implies `databasePassword`.
   */
  databaseSsl?: boolean;
  /**
   * Least-privilege PostgreSQL roles, as the chart sets them up: the role owning the database (`databaseRole`, here
   * also allowed to create roles) runs the writer with MIGRATE_ONLY and DATABASE_ROLES_PREFIX=tl, as the chart's
   * migration Job does; then writer, state and config each log in as their own role (tl_writer, tl_state,
   * tl_config) with its password file and DATABASE_MIGRATE=off. Implies `databasePassword`.
   */
  databaseRoles?: boolean;
  /**
   * NATS is a cluster of three JetStream nodes on loopback (routes between them) and every stream and bucket keeps
   * three copies (BUS_STREAM_REPLICAS=3); the services are given the three nodes' URLs.
   */
  natsCluster?: boolean;
  /**
   * Redis is a primary and a replica watched by three Sentinels; the state service finds the primary through them
   * (REDIS_SENTINELS), and so do the test's own clients (`redisOptions`).
   */
  redisSentinel?: boolean;
  /**
   * PostgreSQL has a synchronous hot standby, and everyone (services and the test's pool) reaches the primary
   * through a TCP proxy, the stable address a failover moves to the standby (`databaseProxy.retarget`).
   */
  postgresStandby?: boolean;
}

export interface Stack {
  /** The NATS server (with `natsCluster`, its first node). */
  nats: NatsHandle;
  /** With `natsCluster`: the three nodes. */
  natsCluster?: NatsClusterHandle;
  /** The URL(s) of NATS the services were given. */
  natsUrl: string;
  /** Redis (with `redisSentinel`, the node first started as the primary). */
  redis: RedisHandle;
  /** With `redisSentinel`: the primary, its replica and the Sentinels. */
  redisSentinel?: RedisSentinelHandle;
  postgres: PostgresHandle;
  /** With `postgresStandby`: the standby, and the proxy every database URL points at. */
  postgresStandby?: PostgresStandbyHandle;
  databaseProxy?: TcpProxy;
  databaseUrl: string;
  /** With `databasePassword`: the services' role and the file they read its password from. */
  databaseRole?: { name: string; passwordFile: string };
  /** With `databaseRoles`: each service's role (writer, state, config) and the file of its password. */
  serviceRoles?: Record<string, { name: string; passwordFile: string }>;
  /** With `natsSecured`: each NATS user (ingest, enrich, state, writer, operator) and the file of its password. */
  natsUsers?: Record<string, NatsAuth>;
  /** A pool of the superuser (whatever the services log in as). */
  pool: pg.Pool;
  bus: Bus;
  /** The options of the test's own Redis client (TLS and the ACL user when `redisSecured`). */
  redisOptions: RedisOptions;
  /** Every service started, by name (`config`, `ingest`, `enrich`, `state-0`, …). */
  services: Map<string, ServiceProcess>;
  ingest: IngestServiceClient;
  config: ConfigServiceClient;
  ingestAddress: string;
  configAddress: string;
  /** Port of each service's /healthz, /readyz and /metrics, by service name (as of its first start). */
  httpPorts: Map<string, number>;
  partitions: number;
  /** Starts one more instance of a stage (`enrich`, `state`, `writer`) and waits until it is ready. */
  addInstance(app: StageApp, env?: Record<string, string>): Promise<ServiceProcess>;
  /** The running instances of a stage, oldest first. */
  instances(app: StageApp): ServiceProcess[];
  /**
   * Starts a service again after it died or was killed (or stops it first), on the gRPC address it had, so its
   * clients find it again. Resolves once it is ready.
   */
  restart(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const partitions = opts.partitions ?? 8;
  const secretsDir = mkdtempSync(join(tmpdir(), 'throughline-e2e-secrets-'));
  const natsSecurity = opts.natsSecured ? secureNats(secretsDir) : undefined;
  const pki = opts.redisSecured || opts.databaseSsl ? createTestPki() : undefined;
  const ca = pki?.ca('data-ca');
  const redisSecurity = opts.redisSecured ? secureRedis(secretsDir, pki!, ca!) : undefined;
  if (opts.natsCluster && natsSecurity !== undefined)
    throw new Error('natsCluster with natsSecured is not supported');
  if (opts.redisSentinel && redisSecurity !== undefined)
    throw new Error('redisSentinel with redisSecured is not supported');
  const [natsServers, redisServers, postgres] = await Promise.all([
    opts.natsCluster
      ? startNatsCluster({ minVersion: '2.10' })
      : startNats(natsSecurity === undefined ? {} : { config: natsSecurity.config }),
    opts.redisSentinel ? startRedisSentinel() : startRedis(redisSecurity?.start ?? {}),
    startPostgres(opts.databaseSsl ? { ssl: pki!.cert('postgres', ca!, 'server') } : {}),
  ]);
  const redisSentinel = 'sentinels' in redisServers ? redisServers : undefined;
  const redis = redisSentinel?.nodes[0] ?? (redisServers as RedisHandle);
  const sentinelEnv =
    redisSentinel === undefined
      ? undefined
      : { REDIS_SENTINELS: redisSentinel.sentinelAddresses, REDIS_SENTINEL_NAME: redisSentinel.masterName };
  const natsCluster = 'nodes' in natsServers ? natsServers : undefined;
  const nats = natsCluster?.nodes[0] ?? (natsServers as NatsHandle);
  const natsUrl = natsServers.url;
  // (Three copies need nats-server 2.10 or newer: the cluster runs one, fetched by the test kit when PATH's is older.)
  const extraEnv: Record<string, string> = natsCluster === undefined ? {} : { BUS_STREAM_REPLICAS: '3' };
  let databaseUrl = await postgres.createDatabase('throughline');
  if ((opts.postgresStandby ?? false) && (opts.databasePassword || opts.databaseSsl || opts.databaseRoles))
    throw new Error('postgresStandby with database roles, passwords or SSL is not supported');
  const postgresStandby = opts.postgresStandby
    ? await postgres.startStandby({ synchronous: true })
    : undefined;
  const databaseProxy = opts.postgresStandby ? await startTcpProxy(postgres.port) : undefined;
  if (databaseProxy !== undefined)
    databaseUrl = databaseUrl.replace(`127.0.0.1:${postgres.port}/`, `127.0.0.1:${databaseProxy.port}/`);
  let serviceDatabaseUrl = databaseUrl;
  let databaseRole: Stack['databaseRole'];
  if (natsSecurity !== undefined) {
    // The streams and buckets exist before the services start: under their permissions they may only check them.
    const operator = await connectJetStreamBus({
      servers: nats.url,
      name: 'e2e-topology',
      auth: natsSecurity.auth,
    });
    await operator.ensureTopology();
    await operator.close();
  }
  if (opts.databasePassword || opts.databaseSsl || opts.databaseRoles) {
    const passwordFile = join(secretsDir, 'database-password');
    const password = randomBytes(12).toString('base64url');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    serviceDatabaseUrl = await postgres.createPasswordRole('tl_app', password, 'throughline');
    databaseRole = { name: 'tl_app', passwordFile };
    extraEnv.DATABASE_PASSWORD_FILE = passwordFile;
  }
  if (opts.databaseSsl) {
    await postgres.requireSsl('tl_app', 'throughline');
    serviceDatabaseUrl += `?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca!.cert)}`;
  }
  const roles = opts.databaseRoles
    ? await createServiceRoles({
        postgres,
        databaseUrl,
        serviceDatabaseUrl,
        ssl: opts.databaseSsl ?? false,
        secretsDir,
      })
    : undefined;
  if (roles !== undefined) {
    // Each service reads its own role's password; none of them gets the owner's.
    delete extraEnv.DATABASE_PASSWORD_FILE;
    extraEnv.DATABASE_MIGRATE = 'off';
  }
  const services = new Map<string, ServiceProcess>();
  const launcher = await Launcher.start({
    settings: {
      natsUrl,
      redisUrl: redis.url,
      databaseUrl: serviceDatabaseUrl,
      partitions,
      instances: {
        enrich: opts.enrichInstances ?? 1,
        state: opts.stateInstances ?? 2,
        writer: opts.writerInstances ?? 2,
      },
      ingestAddress: '127.0.0.1:0',
      configAddress: '127.0.0.1:0',
      httpPortBase: 0,
      logLevel: 'info',
      env: { BUS_ACK_WAIT_MS: '4000', SHUTDOWN_TIMEOUT_MS: '10000', ...extraEnv, ...opts.env },
      appEnv: mergeAppEnv(
        mergeAppEnv(
          mergeAppEnv(natsSecurity?.appEnv ?? {}, roles?.appEnv ?? {}),
          redisSecurity === undefined
            ? sentinelEnv === undefined
              ? {}
              : { state: sentinelEnv }
            : { state: redisSecurity.env },
        ),
        opts.serviceEnv ?? {},
      ),
    },
    readyTimeoutMs: 30_000,
    spawn: (spec) => {
      const process = spawnService({
        name: spec.name,
        command: globalThis.process.execPath,
        args: [...SERVICE_NODE_FLAGS, mainOf(spec.app)],
        env: spec.env,
      });
      services.set(spec.name, process);
      return new OutputService(spec, process);
    },
  });
  const { ingestAddress, configAddress } = launcher.settings;

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  // Idle connections die when a test stops PostgreSQL; that is expected, not a failure of the test.
  pool.on('error', () => undefined);
  const bus = await connectJetStreamBus({
    servers: natsUrl,
    name: 'e2e-test',
    auth: natsSecurity?.auth ?? {},
  });
  const ingest = new IngestServiceClient(ingestAddress, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  const configClient = new ConfigServiceClient(configAddress, grpc.credentials.createInsecure());
  return {
    nats,
    ...(natsCluster === undefined ? {} : { natsCluster }),
    natsUrl,
    redis,
    ...(redisSentinel === undefined ? {} : { redisSentinel }),
    postgres,
    ...(postgresStandby === undefined ? {} : { postgresStandby }),
    ...(databaseProxy === undefined ? {} : { databaseProxy }),
    databaseUrl,
    databaseRole,
    ...(roles === undefined ? {} : { serviceRoles: roles.roles }),
    ...(natsSecurity === undefined ? {} : { natsUsers: natsSecurity.users }),
    pool,
    bus,
    redisOptions:
      redisSecurity?.clientOptions ??
      (redisSentinel === undefined
        ? {}
        : {
            sentinels: redisSentinel.sentinelAddresses.split(',').map((a) => ({
              host: '127.0.0.1',
              port: Number(a.split(':')[1]),
            })),
            name: redisSentinel.masterName,
          }),
    services,
    ingest,
    config: configClient,
    ingestAddress,
    configAddress,
    httpPorts: launcher.httpPorts,
    partitions,
    addInstance: async (app, env) => (await launcher.add(app, env)).process,
    instances: (app) => launcher.running(app).map((s) => s.process),
    async restart(name) {
      const service = services.get(name);
      if (service === undefined) throw new Error(`no service ${name}`);
      const address = { ingest: ingestAddress, config: configAddress }[name];
      await service.restart(address === undefined ? {} : { env: { GRPC_ADDRESS: address } });
      await service.waitForOutput(/"msg":"ready"/, { timeoutMs: 30_000 });
    },
    async stop() {
      ingest.close();
      configClient.close();
      await launcher.stop(10_000);
      await bus.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      await databaseProxy?.close();
      await Promise.allSettled([
        natsServers.stop(),
        redisServers.stop(),
        postgres.stop(),
        postgresStandby?.stop() ?? Promise.resolve(),
      ]);
      rmSync(secretsDir, { recursive: true, force: true });
    },
  };
}

/**
 * The chart's migration Job, run here: the writer with MIGRATE_ONLY and DATABASE_ROLES_PREFIX, as the role owning
 * the database (made able to create roles), migrates and creates tl_writer, tl_state and tl_config with the
 * passwords of the files it is given; PostgreSQL then asks each for its password (and its SSL, with `ssl`).
 */
async function createServiceRoles(o: {
  postgres: PostgresHandle;
  databaseUrl: string;
  serviceDatabaseUrl: string;
  ssl: boolean;
  secretsDir: string;
}): Promise<{
  roles: Record<string, { name: string; passwordFile: string }>;
  appEnv: Partial<Record<string, Record<string, string>>>;
}> {
  const superuser = new pg.Client({ connectionString: o.databaseUrl });
  await superuser.connect();
  await superuser.query('ALTER ROLE tl_app CREATEROLE').finally(() => superuser.end());
  const dir = join(o.secretsDir, 'database-roles');
  mkdirSync(dir, { mode: 0o700 });
  const roles: Record<string, { name: string; passwordFile: string }> = {};
  const appEnv: Record<string, Record<string, string>> = {};
  for (const service of ['writer', 'state', 'config']) {
    const passwordFile = join(dir, service);
    writeFileSync(passwordFile, `${randomBytes(12).toString('base64url')}\n`, { mode: 0o600 });
    roles[service] = { name: `tl_${service}`, passwordFile };
    appEnv[service] = { DATABASE_USER: `tl_${service}`, DATABASE_PASSWORD_FILE: passwordFile };
  }
  const job = spawnService({
    name: 'migrate',
    command: process.execPath,
    args: [...SERVICE_NODE_FLAGS, mainOf('writer')],
    env: {
      DATABASE_URL: o.serviceDatabaseUrl,
      DATABASE_PASSWORD_FILE: join(o.secretsDir, 'database-password'),
      MIGRATE_ONLY: 'true',
      DATABASE_ROLES_PREFIX: 'tl',
      DATABASE_ROLE_PASSWORDS_DIR: dir,
      LOG_LEVEL: 'info',
    },
  });
  const status = await job.exited;
  if (status.code !== 0)
    throw new Error(`the migration run failed (${JSON.stringify(status)}):\n${job.output()}`);
  for (const { name } of Object.values(roles)) {
    await o.postgres.requirePassword(name, 'throughline');
    if (o.ssl) await o.postgres.requireSsl(name, 'throughline');
  }
  return { roles, appEnv };
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

/** PublishBatch, retried as a client would (RESOURCE_EXHAUSTED after its hint, UNAVAILABLE after a pause). */
export async function publishWithRetry(client: IngestServiceClient, events: Event[]): Promise<void> {
  await retried(client, events);
}

export function publishBatch(client: IngestServiceClient, events: Event[]): Promise<number> {
  return publishOnce(client, events);
}

export async function ledgerCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger');
  return Number(rows[0]?.n ?? 0);
}

/** How many of `events` have their ledger row (a test's own events, whatever other tests committed). */
export async function committedOf(pool: pg.Pool, events: readonly { eventId: string }[]): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM ledger WHERE event_id = ANY($1)',
    [events.map((e) => e.eventId)],
  );
  return rows[0]!.n;
}

/** Waits until every one of `events` has its ledger row. */
export async function waitForCommitted(
  pool: pg.Pool,
  events: readonly { eventId: string }[],
  timeoutMs = 180_000,
): Promise<void> {
  await waitFor(async () => (await committedOf(pool, events)) === events.length, {
    timeoutMs,
    intervalMs: 100,
    message: `not every one of ${events.length} events reached the ledger`,
  });
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

/** A NATS configuration with a user, its password and mutual TLS; the files the services read, and their env. */
function mergeAppEnv(
  a: Partial<Record<string, Record<string, string>>>,
  b: Partial<Record<string, Record<string, string>>>,
): Partial<Record<string, Record<string, string>>> {
  const out: Partial<Record<string, Record<string, string>>> = { ...a };
  for (const [app, env] of Object.entries(b)) out[app] = { ...out[app], ...env };
  return out;
}

/** Redis over TLS with client certificates and the shipped ACL; the state service's settings to reach it. */
function secureRedis(
  dir: string,
  pki: TestPki,
  ca: CertFiles,
): { start: RedisStartOptions; env: Record<string, string>; clientOptions: RedisOptions } {
  const server = pki.cert('redis', ca, 'server');
  const client = pki.cert('redis-client', ca, 'client');
  const password = randomBytes(12).toString('base64url');
  const passwordFile = join(dir, 'redis-password');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  return {
    start: {
      tls: { cert: server.cert, key: server.key, ca: ca.cert, clientCert: client },
      users: aclFileUsers(readFileSync(join(DEPLOY_DIR, 'redis', 'users.acl'), 'utf8'), password),
    },
    clientOptions: {
      username: 'throughline',
      password,
      tls: { ca: readFileSync(ca.cert), cert: readFileSync(client.cert), key: readFileSync(client.key) },
    },
    env: {
      REDIS_USERNAME: 'throughline',
      REDIS_PASSWORD_FILE: passwordFile,
      REDIS_TLS_CA_FILE: ca.cert,
      REDIS_TLS_CERT_FILE: client.cert,
      REDIS_TLS_KEY_FILE: client.key,
    },
  };
}

/** The shipped sample server configuration, its permissions included, TLS files and passwords filled in. */
function secureNats(dir: string): {
  config: string;
  auth: NatsAuth;
  users: Record<string, NatsAuth>;
  appEnv: Record<string, Record<string, string>>;
} {
  const pki = createTestPki();
  const ca = pki.ca('nats-ca');
  const server = pki.cert('nats-server', ca, 'server');
  const client = pki.cert('nats-client', ca, 'client');
  const tls = { tlsCaFile: ca.cert, tlsCertFile: client.cert, tlsKeyFile: client.key };
  const users: Record<string, NatsAuth> = {};
  let config = readFileSync(join(NATS_DEPLOY_DIR, 'sample-server.conf'), 'utf8')
    // The test kit gives the address, the port and JetStream's store on the command line.
    .replace(/^port: .*$/m, '')
    .replace(/^jetstream \{[^}]*\}$/m, '')
    // nats-server resolves an include relative to the configuration's own file: the permissions go in as they are.
    .replace('include "permissions.conf"', readFileSync(join(NATS_DEPLOY_DIR, 'permissions.conf'), 'utf8'))
    .replace('/etc/nats/tls/tls.crt', server.cert)
    .replace('/etc/nats/tls/tls.key', server.key)
    .replace('/etc/nats/tls/ca.crt', ca.cert);
  for (const user of ['ingest', 'enrich', 'state', 'writer', 'operator']) {
    const password = randomBytes(12).toString('base64url');
    const passwordFile = join(dir, `nats-${user}-password`);
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    config = config.replace(`$TL_${user.toUpperCase()}_PASSWORD`, `"${password}"`);
    users[user] = { user, passwordFile, ...tls };
  }
  const env = (user: string): Record<string, string> => ({
    NATS_USER: user,
    NATS_PASSWORD_FILE: users[user]!.passwordFile!,
    NATS_TLS_CA_FILE: ca.cert,
    NATS_TLS_CERT_FILE: client.cert,
    NATS_TLS_KEY_FILE: client.key,
  });
  return {
    config,
    auth: users.operator!,
    users,
    appEnv: Object.fromEntries(['ingest', 'enrich', 'state', 'writer'].map((app) => [app, env(app)])),
  };
}
