/**
 * The pipeline under test: nats-server, redis-server and PostgreSQL from the test kit, and the five services as
 * separate processes, started by the one stack launcher (@throughline/stack) as packages/e2e and `up` start them.
 */
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { IngestServiceClient } from '@throughline/contracts';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';
import { mainOf, OutputService, Stack as Launcher, type StageApp } from '@throughline/stack';
import type { Security } from './secured.js';
import {
  spawnService,
  startNats,
  startNatsCluster,
  startPostgres,
  startRedis,
  type ServerHandle,
  type ServiceProcess,
} from '@throughline/testkit';

/** The servers a run uses: started by the test kit, with their pids for CPU accounting. */
export interface Servers {
  natsUrl: string;
  redisUrl: string;
  /** A fresh database for this run. */
  databaseUrl: string;
  pids: number[];
  /** Each server's pid by name (nats, redis, postgres), for CPU accounting per server. */
  pidsByName: Record<string, number>;
  /** With every hop secured (`startSecuredServers`): how the services and the load reach the servers. */
  security?: Security;
  /** Environment every service needs for these servers (BUS_STREAM_REPLICAS on a cluster). */
  env?: Record<string, string>;
  /** The servers themselves, to kill and restart (`startServers` only: one of each). */
  handles?: { nats: ServerHandle; redis: ServerHandle; postgres: ServerHandle };
  stop(): Promise<void>;
}

/** Each running server's pid by name, for CPU accounting. */
export function serverPids(servers: Record<string, { pid: number | undefined }>): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const [name, server] of Object.entries(servers)) if (server.pid !== undefined) pids[name] = server.pid;
  return pids;
}

/** `natsBinary`: the nats-server to run (default: the one on PATH). */
export async function startServers(natsBinary?: string): Promise<Servers> {
  return startServersWith(false, natsBinary);
}

/**
 * As `startServers`, with NATS a three-node JetStream cluster on this machine and three copies of every stream.
 * Three copies need nats-server 2.10 or newer: `natsBinary`, else the one on PATH when it is, else one fetched by the
 * test kit (`natsServerAtLeast`).
 */
export async function startReplicatedServers(natsBinary?: string): Promise<Servers> {
  return startServersWith(true, natsBinary);
}

async function startServersWith(clustered: boolean, natsBinary: string | undefined): Promise<Servers> {
  const binary = natsBinary === undefined ? {} : { binary: natsBinary };
  const [nats, redis, postgres] = await Promise.all([
    clustered ? startNatsCluster({ minVersion: '2.10', ...binary }) : startNats(binary),
    startRedis(),
    startPostgres(),
  ]);
  const databaseUrl = await postgres.createDatabase('throughline');
  const natsPids =
    'nodes' in nats ? Object.fromEntries(nats.nodes.map((n) => [`nats-${n.name}`, n])) : { nats };
  const pidsByName = serverPids({ ...natsPids, redis, postgres });
  return {
    natsUrl: nats.url,
    redisUrl: redis.url,
    databaseUrl,
    pids: Object.values(pidsByName),
    pidsByName,
    ...(clustered ? { env: { BUS_STREAM_REPLICAS: '3' } } : {}),
    ...('nodes' in nats ? {} : { handles: { nats, redis, postgres } }),
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
  /** Instances each stage starts with. Default one each. */
  instances?: Partial<Record<StageApp, number>>;
  /** Run the services built in another checkout (`<root>/apps/<app>/dist/main.js`): a baseline to compare with. */
  appsRoot?: string;
}

export interface PipelineStack {
  ingest: IngestServiceClient;
  /** The load's client token, when ingest takes only authenticated calls. */
  token?: string;
  pool: pg.Pool;
  /** Every service started, by name (`writer`, or `state-0`, `state-1`, … with several instances). */
  services: Map<string, ServiceProcess>;
  /** /metrics port of each service. */
  httpPorts: Map<string, number>;
  /** Brings a stage to `instances` while it runs (new instances take a share of the partitions). */
  scale(app: StageApp, instances: number): Promise<void>;
  pids(): number[];
  stop(): Promise<void>;
}

export async function startPipeline(opts: PipelineStackOptions): Promise<PipelineStack> {
  const services = new Map<string, ServiceProcess>();
  // Ingest and config bind port 0 and report the port they got: a port picked in advance can be taken meanwhile.
  const launcher = await Launcher.start({
    settings: {
      natsUrl: opts.servers.natsUrl,
      redisUrl: opts.servers.redisUrl,
      databaseUrl: opts.servers.databaseUrl,
      partitions: opts.partitions,
      instances: { enrich: 1, state: 1, writer: 1, ...opts.instances },
      ingestAddress: '127.0.0.1:0',
      configAddress: '127.0.0.1:0',
      httpPortBase: 0,
      logLevel: 'info',
      env: { SHUTDOWN_TIMEOUT_MS: '5000', ...opts.servers.env, ...opts.env },
      ...(opts.servers.security === undefined ? {} : { appEnv: opts.servers.security.appEnv }),
    },
    spawn: (spec) => {
      const process = spawnService({
        name: spec.name,
        command: globalThis.process.execPath,
        args: [...SERVICE_NODE_FLAGS, ...(opts.nodeArgs ?? []), mainOf(spec.app, opts.appsRoot)],
        env: spec.env,
      });
      services.set(spec.name, process);
      return new OutputService(spec, process);
    },
  });
  const pool = new pg.Pool({ connectionString: opts.servers.databaseUrl, max: 2 });
  // An idle connection dies when the run stops its PostgreSQL: expected, not a failure.
  pool.on('error', () => undefined);
  const security = opts.servers.security;
  const credentials = security?.ingestCredentials ?? grpc.credentials.createInsecure();
  const ingest = new IngestServiceClient(launcher.settings.ingestAddress, credentials, {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  return {
    ingest,
    ...(security === undefined ? {} : { token: security.token }),
    pool,
    services,
    httpPorts: launcher.httpPorts,
    scale: (app, instances) => launcher.scale(app, instances, 10_000),
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
