import { z } from 'zod';
import type { NatsAuth } from '@throughline/bus';
import { booleanFlag, grpcTlsSettings } from './tls.js';

/** Settings every service shares, read from the environment by each app's `config.ts`. */
export const commonSettings = z.object({
  /** Partitions of the deployment (`P`); the same in every service. */
  PARTITION_COUNT: z.coerce.number().int().min(1).max(4096).default(16),
  /**
   * How a stage instance chooses the partitions it asks leases for: `balanced` (a share of the live instances,
   * moving as they come and go) or `static` (`p % INSTANCE_COUNT == INSTANCE_INDEX`, fixed). Either way it
   * processes a partition only while it holds the partition's lease.
   */
  PARTITION_ASSIGNMENT: z.enum(['balanced', 'static']).default('balanced'),
  /** With `static` assignment: this instance's index and the instance count. */
  INSTANCE_INDEX: z.coerce.number().int().min(0).default(0),
  INSTANCE_COUNT: z.coerce.number().int().min(1).default(1),
  /** Names the instance among the live instances of its stage (a random suffix is added). Default: the host name. */
  INSTANCE_ID: z.string().optional(),
  /**
   * How long a registration or partition lease lives without renewal, ms: a crashed instance's partitions move
   * after this long. The same in every service of a deployment (it is the lease bucket's time to live).
   */
  LEASE_TTL_MS: z.coerce.number().int().min(500).max(600_000).default(5_000),
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  /**
   * NATS credentials, each from a file (a mounted Secret, read at every connection): a user with
   * NATS_PASSWORD_FILE, or NATS_TOKEN_FILE, or NATS_NKEY_SEED_FILE, or NATS_CREDS_FILE (JWT and seed).
   */
  NATS_USER: z.string().min(1).optional(),
  NATS_PASSWORD_FILE: z.string().min(1).optional(),
  NATS_TOKEN_FILE: z.string().min(1).optional(),
  NATS_NKEY_SEED_FILE: z.string().min(1).optional(),
  NATS_CREDS_FILE: z.string().min(1).optional(),
  /** TLS to NATS: the CA of the server's certificate, and a client certificate and key for mutual TLS. */
  NATS_TLS_CA_FILE: z.string().min(1).optional(),
  NATS_TLS_CERT_FILE: z.string().min(1).optional(),
  NATS_TLS_KEY_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** Address of the operational HTTP server: /healthz, /readyz, /metrics. */
  HTTP_ADDRESS: z.string().default('0.0.0.0:9464'),
  /** Address of the gRPC server (the service's API, if any, and the standard health service). */
  GRPC_ADDRESS: z.string().default('0.0.0.0:50051'),
  /** Time allowed for draining on SIGTERM before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(25_000),
  /** How long JetStream remembers a message id to drop duplicates. */
  BUS_DUPLICATE_WINDOW_MS: z.coerce.number().int().min(100).default(120_000),
  BUS_ACK_WAIT_MS: z.coerce.number().int().min(100).default(30_000),
  BUS_MAX_DELIVER: z.coerce.number().int().min(2).default(10),
  BUS_MAX_ACK_PENDING: z.coerce.number().int().min(1).default(64),
  /** Copies JetStream keeps of every stream and bucket: 1 on one server, 3 on a clustered NATS. */
  BUS_STREAM_REPLICAS: z.coerce.number().int().min(1).max(5).default(1),
  /**
   * More than one copy on nats-server older than 2.10 anyway: refused unless set, as acknowledged events can be
   * lost there when a node restarts (README, "Exactly once").
   */
  BUS_ACCEPT_NATS_2_9_REPLICAS: booleanFlag,
});
export type CommonSettings = z.infer<typeof commonSettings>;

/**
 * How a public gRPC server (ingest, config) treats connections: no client holds one forever or opens streams
 * without limit. Connections older than the maximum age are closed after a grace (clients reconnect); idle ones
 * after the idle timeout; keepalive pings find dead peers.
 */
export const grpcServerSettings = grpcTlsSettings.extend({
  GRPC_MAX_CONCURRENT_STREAMS: z.coerce.number().int().min(1).default(100),
  GRPC_MAX_CONNECTION_IDLE_MS: z.coerce.number().int().min(1000).default(300_000),
  GRPC_MAX_CONNECTION_AGE_MS: z.coerce.number().int().min(1000).default(1_800_000),
  GRPC_MAX_CONNECTION_AGE_GRACE_MS: z.coerce.number().int().min(0).default(60_000),
  GRPC_KEEPALIVE_TIME_MS: z.coerce.number().int().min(1000).default(60_000),
  GRPC_KEEPALIVE_TIMEOUT_MS: z.coerce.number().int().min(1000).default(20_000),
});
export type GrpcServerSettings = z.infer<typeof grpcServerSettings>;

/** Parses the environment with `schema`; on error, one line per bad variable, then exit code 2. */
export function parseSettings<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv,
  service: string,
): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  process.stderr.write(`${service}: invalid configuration:\n${lines.join('\n')}\n`);
  process.exit(2);
}

/** Checks the partition ownership settings against each other. */
export function checkOwnership(s: CommonSettings): string | undefined {
  if (s.PARTITION_ASSIGNMENT !== 'static') return undefined;
  if (s.INSTANCE_COUNT > s.PARTITION_COUNT)
    return `INSTANCE_COUNT (${s.INSTANCE_COUNT}) exceeds PARTITION_COUNT (${s.PARTITION_COUNT})`;
  if (s.INSTANCE_INDEX >= s.INSTANCE_COUNT)
    return `INSTANCE_INDEX (${s.INSTANCE_INDEX}) must be below INSTANCE_COUNT (${s.INSTANCE_COUNT})`;
  return undefined;
}

/** Bus settings from the common settings. */
export function busSettingsOf(s: CommonSettings) {
  return {
    duplicateWindowMs: s.BUS_DUPLICATE_WINDOW_MS,
    ackWaitMs: s.BUS_ACK_WAIT_MS,
    maxDeliver: s.BUS_MAX_DELIVER,
    maxAckPending: s.BUS_MAX_ACK_PENDING,
    leaseTtlMs: s.LEASE_TTL_MS,
    streamReplicas: s.BUS_STREAM_REPLICAS,
    acceptNats29Replicas: s.BUS_ACCEPT_NATS_2_9_REPLICAS,
  };
}

/** The NATS credentials and TLS files of `settings`. */
export function natsAuthOf(settings: CommonSettings): NatsAuth {
  const auth: NatsAuth = {};
  if (settings.NATS_USER !== undefined) auth.user = settings.NATS_USER;
  if (settings.NATS_PASSWORD_FILE !== undefined) auth.passwordFile = settings.NATS_PASSWORD_FILE;
  if (settings.NATS_TOKEN_FILE !== undefined) auth.tokenFile = settings.NATS_TOKEN_FILE;
  if (settings.NATS_NKEY_SEED_FILE !== undefined) auth.nkeySeedFile = settings.NATS_NKEY_SEED_FILE;
  if (settings.NATS_CREDS_FILE !== undefined) auth.credsFile = settings.NATS_CREDS_FILE;
  if (settings.NATS_TLS_CA_FILE !== undefined) auth.tlsCaFile = settings.NATS_TLS_CA_FILE;
  if (settings.NATS_TLS_CERT_FILE !== undefined) auth.tlsCertFile = settings.NATS_TLS_CERT_FILE;
  if (settings.NATS_TLS_KEY_FILE !== undefined) auth.tlsKeyFile = settings.NATS_TLS_KEY_FILE;
  return auth;
}
