/**
 * The servers of a run with every hop secured, as the shipped configurations say: NATS with mutual TLS and a
 * password, Redis over TLS only with client certificates and the ACL user of deploy/redis/users.acl, PostgreSQL
 * refusing the services' role without SSL (verified: `sslmode=verify-full`), ingest and config serving gRPC over
 * TLS, and ingest taking only a client token. What the services and the load's client need to reach them comes
 * with it. For the security benchmark: the same run, plaintext and secured, side by side.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { connectJetStreamBus } from '@throughline/bus';
import { clientKey, encodeClientRecord, newClientToken } from '@throughline/pipeline';
import { aclFileUsers, createTestPki, startNats, startPostgres, startRedis } from '@throughline/testkit';
import { serverPids, type Servers } from './stack.js';

const ACL_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../deploy/redis/users.acl');

/** How the services and the load reach secured servers. */
export interface Security {
  /** Environment of each app (TLS files, users, password files). */
  appEnv: Record<string, Record<string, string>>;
  /** The load's channel to ingest: TLS trusting the test CA. */
  ingestCredentials: grpc.ChannelCredentials;
  /** The load's client token. */
  token: string;
}

export async function startSecuredServers(): Promise<Servers & { security: Security }> {
  const pki = createTestPki();
  const ca = pki.ca('bench-ca');
  const cert = (name: string, usage: 'server' | 'client') => pki.cert(name, ca, usage);
  const [natsServer, redisServer, pgServer, grpcServer] = [
    cert('nats', 'server'),
    cert('redis', 'server'),
    cert('postgres', 'server'),
    cert('grpc', 'server'),
  ];
  const client = cert('services', 'client');
  const secret = (name: string): { value: string; file: string } => {
    const value = randomBytes(12).toString('base64url');
    const file = join(pki.dir, name);
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    return { value, file };
  };
  const natsPassword = secret('nats-password');
  const redisPassword = secret('redis-password');
  const pgPassword = secret('pg-password');

  const [nats, redis, postgres] = await Promise.all([
    startNats({
      config: [
        `authorization { users = [ { user: "throughline", password: "${natsPassword.value}" } ] }`,
        `tls { cert_file: "${natsServer.cert}", key_file: "${natsServer.key}", ca_file: "${ca.cert}", verify: true }`,
      ].join('\n'),
    }),
    startRedis({
      tls: { cert: redisServer.cert, key: redisServer.key, ca: ca.cert, clientCert: client },
      users: aclFileUsers(readFileSync(ACL_FILE, 'utf8'), redisPassword.value),
    }),
    startPostgres({ ssl: pgServer }),
  ]);
  const stop = async () => {
    await Promise.allSettled([nats.stop(), redis.stop(), postgres.stop()]);
    rmSync(pki.dir, { recursive: true, force: true });
  };
  try {
    const adminUrl = await postgres.createDatabase('throughline');
    const roleUrl = await postgres.createPasswordRole('tl_app', pgPassword.value, 'throughline');
    await postgres.requireSsl('tl_app', 'throughline');
    const natsAuth = {
      user: 'throughline',
      passwordFile: natsPassword.file,
      tlsCaFile: ca.cert,
      tlsCertFile: client.cert,
      tlsKeyFile: client.key,
    };
    // The load's client credential, as `throughline clients create bench --all-tenants` makes it.
    const { token, sha256 } = newClientToken();
    const bus = await connectJetStreamBus({ servers: nats.url, name: 'bench-clients', auth: natsAuth });
    try {
      await bus.ensureTopology();
      const record = { tokenSha256: sha256, certificate: false, tenants: ['*'], createdAtMs: Date.now() };
      await (await bus.clients()).put(clientKey('bench'), encodeClientRecord(record));
    } finally {
      await bus.close();
    }
    const every = {
      NATS_USER: 'throughline',
      NATS_PASSWORD_FILE: natsPassword.file,
      NATS_TLS_CA_FILE: ca.cert,
      NATS_TLS_CERT_FILE: client.cert,
      NATS_TLS_KEY_FILE: client.key,
    };
    const database = {
      DATABASE_URL: `${roleUrl}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca.cert)}`,
      DATABASE_PASSWORD_FILE: pgPassword.file,
    };
    const grpcTls = {
      GRPC_PLAINTEXT: 'false',
      GRPC_TLS_CERT_FILE: grpcServer.cert,
      GRPC_TLS_KEY_FILE: grpcServer.key,
    };
    const security: Security = {
      appEnv: {
        ingest: { ...every, ...grpcTls, INGEST_AUTH_OPEN: 'false' },
        config: { ...grpcTls, ...database, CONFIG_PUT_OPEN: 'false' },
        enrich: { ...every, CONFIG_PLAINTEXT: 'false', CONFIG_TLS_CA_FILE: ca.cert },
        state: {
          ...every,
          ...database,
          REDIS_URL: redis.url,
          REDIS_USERNAME: 'throughline',
          REDIS_PASSWORD_FILE: redisPassword.file,
          REDIS_TLS_CA_FILE: ca.cert,
          REDIS_TLS_CERT_FILE: client.cert,
          REDIS_TLS_KEY_FILE: client.key,
        },
        writer: { ...every, ...database },
      },
      ingestCredentials: grpc.credentials.createSsl(readFileSync(ca.cert)),
      token,
    };
    const pidsByName = serverPids({ nats, redis, postgres });
    return {
      natsUrl: nats.url,
      redisUrl: redis.url,
      // The run's own pool (the superuser, counting rows) still negotiates SSL: `prefer` by default.
      databaseUrl: adminUrl,
      pids: Object.values(pidsByName),
      pidsByName,
      security,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
