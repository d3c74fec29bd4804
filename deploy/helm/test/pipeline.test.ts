/**
 * The chart's pods, run from the runtime tree of the image on real NATS, Redis and PostgreSQL: each Deployment's
 * replicas started with the command and environment the chart renders for it (`node <image flags> <args>`, Secret
 * keys and downward-API fields resolved as the kubelet would, a pod-like name per instance), then the `helm test`
 * pod as rendered (deploy/smoke-test.mjs) sends events through ingest and waits for their ledger rows. Only what
 * a cluster gives differently is replaced: listen addresses (one host here, so port 0) and config's address.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectJetStreamBus } from '@throughline/bus';
import { clientKey, encodeClientRecord, newClientToken } from '@throughline/pipeline';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';
import { OutputService, type App, type ReadyPorts } from '@throughline/stack';
import {
  spawnService,
  startNats,
  startPostgres,
  startRedis,
  type NatsHandle,
  type PostgresHandle,
  type RedisHandle,
  type ServiceProcess,
} from '@throughline/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { helmTemplate, type Rendered } from './helm.js';
import { podSpecOf } from './invariants.js';
import { containerOf, podEnv } from './pod-env.js';

const out = inject('runtimeDir');
let nats: NatsHandle;
let redis: RedisHandle;
let postgres: PostgresHandle;
let rendered: Rendered;
const instances: { pod: string; service: ServiceProcess }[] = [];
let ingestAddress: string;
const secrets = mkdtempSync(join(tmpdir(), 'tl-chart-client-'));

const ROLES = ['writer', 'state', 'config', 'reader'];
const rolePasswords = join(secrets, 'database-roles');

/**
 * Where the file the chart mounts as the database role's password is here: the chart mounts one key of the roles'
 * Secret (the volume's item) at DATABASE_PASSWORD_FILE; the file of that key in `rolePasswords` stands in for it.
 * A pod given another role's key logs in with the wrong password and fails.
 */
function rolePasswordFile(
  pod: ReturnType<typeof podSpecOf>,
  env: Record<string, string>,
): Record<string, string> {
  const volume = (pod.volumes as { name: string; secret?: { items?: { key: string }[] } }[]).find(
    (v) => v.name === 'database-role',
  );
  if (volume === undefined) return {};
  expect(env.DATABASE_PASSWORD_FILE).toBe('/etc/throughline/database-role/password');
  return { DATABASE_PASSWORD_FILE: join(rolePasswords, volume.secret!.items![0]!.key) };
}

/** Starts every replica of one Deployment as the chart renders it; resolves with their ready lines' ports. */
function startDeployment(name: App, overrides: Record<string, string> = {}): Promise<ReadyPorts[]> {
  const deployment = rendered.byName.get(`Deployment/tl-throughline-${name}`)!;
  const container = containerOf(deployment);
  const podEnvOf = (pod: string) =>
    podEnv(rendered, container, { name: pod, namespace: 'pipeline', nodeName: 'node-1' });
  const replicas = deployment.spec.replicas as number;
  return Promise.all(
    Array.from({ length: replicas }, (_, i) => {
      const pod = `${deployment.metadata.name}-7c9d8f6b5d-x${i}q4z`;
      const service = spawnService({
        name: `${name}-${i}`,
        command: process.execPath,
        args: [...SERVICE_NODE_FLAGS, ...(container.args ?? [])],
        cwd: out,
        env: {
          ...podEnvOf(pod),
          ...rolePasswordFile(podSpecOf(deployment), podEnvOf(pod)),
          HTTP_ADDRESS: '127.0.0.1:0',
          GRPC_ADDRESS: '127.0.0.1:0',
          ...overrides,
        },
      });
      instances.push({ pod, service });
      // The ready line of a service, read as the stack launcher reads it.
      return new OutputService({ name: pod, app: name, env: {} }, service).ready(30_000);
    }),
  );
}

beforeAll(async () => {
  [nats, redis, postgres] = await Promise.all([startNats(), startRedis(), startPostgres()]);
  rendered = helmTemplate({
    set: {
      partitionCount: 4,
      // Writer, state and config log in as their own roles, which the migration Job creates.
      connections: {
        nats: { url: nats.url },
        redis: { url: redis.url },
        database: { url: postgres.url, roles: { enabled: true, passwordsSecret: 'db-roles' } },
      },
      // Two instances of state and writer share their partitions; one of the others keeps the CPU use down.
      ingest: { replicas: 1 },
      enrich: { replicas: 1 },
      state: { replicas: 2 },
      writer: { replicas: 2 },
      config: { replicas: 1, seedDemoTenants: true },
      // Ingest stays closed, as by default: the test pod publishes with a client token from a Secret.
      tests: { events: 6, timeoutMs: 20_000, clientTokenSecret: { name: 'smoke-client', key: 'token' } },
    },
  });
  await runMigrationJob();
  const [config] = await startDeployment('config');
  const configAddress = `127.0.0.1:${config!.grpcPort!}`;
  const [[ingest]] = await Promise.all([
    startDeployment('ingest'),
    startDeployment('enrich', { CONFIG_ADDRESS: configAddress }),
    startDeployment('state'),
    startDeployment('writer'),
  ]);
  ingestAddress = `127.0.0.1:${ingest!.grpcPort!}`;
}, 120_000);

/** The migration Job as rendered: migrates as the owner, then creates the roles with the Secret's passwords. */
async function runMigrationJob(): Promise<void> {
  mkdirSync(rolePasswords, { mode: 0o700 });
  for (const role of ROLES)
    writeFileSync(join(rolePasswords, role), `${role}-${randomBytes(9).toString('base64url')}\n`, {
      mode: 0o600,
    });
  const job = rendered.objects.find((o) => o.kind === 'Job')!;
  const container = podSpecOf(job).containers[0]!;
  const env = podEnv(rendered, container, {
    name: 'tl-throughline-migrate-x1',
    namespace: 'pipeline',
    nodeName: 'node-1',
  });
  expect(env.DATABASE_ROLE_PASSWORDS_DIR).toBe('/etc/throughline/database-roles');
  const run = spawnSync(process.execPath, [...SERVICE_NODE_FLAGS, ...(container.args ?? [])], {
    cwd: out,
    env: { PATH: process.env.PATH ?? '', ...env, DATABASE_ROLE_PASSWORDS_DIR: rolePasswords },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(run.status, run.stdout + run.stderr).toBe(0);
  expect(run.stdout.match(/"msg":"service role granted"/g)).toHaveLength(ROLES.length);
  // From now on PostgreSQL asks each role for its password.
  for (const role of ROLES) await postgres.requirePassword(`throughline_${role}`, 'postgres');
}

afterAll(async () => {
  await Promise.all(instances.map(({ service }) => service.kill('SIGKILL')));
  await Promise.all([nats?.stop(), redis?.stop(), postgres?.stop()]);
  rmSync(secrets, { recursive: true, force: true });
}, 60_000);

describe('the chart’s pods on real NATS, Redis and PostgreSQL', () => {
  it('names each stage instance after its pod (INSTANCE_ID from the downward API, plus a random suffix)', async () => {
    const stages = instances.filter(({ pod }) => /-(enrich|state|writer)-/.test(pod));
    expect(stages.length).toBe(5);
    for (const { pod, service } of stages) {
      const [line] = await service.waitForOutput(/^\{.*"msg":"ready".*\}$/m);
      expect((JSON.parse(line) as { instance: string }).instance).toMatch(new RegExp(`^${pod}-[0-9a-f]{6}$`));
    }
  });

  /** Runs the `helm test` pod as rendered, its client token (the Secret's key, mounted as a file) given as `token`. */
  function runTestPod(token: string): SpawnSyncReturns<string> {
    const pod = rendered.objects.find(
      (o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test',
    )!;
    const container = podSpecOf(pod).containers[0]!;
    const env = podEnv(rendered, container, {
      name: pod.metadata.name,
      namespace: 'pipeline',
      nodeName: 'node-1',
    });
    Object.assign(env, rolePasswordFile(podSpecOf(pod), env));
    // The chart mounts the Secret's key at INGEST_TOKEN_FILE; here the same file name holds the token.
    expect(env.INGEST_TOKEN_FILE).toBe('/etc/throughline/ingest-client/token');
    const file = join(secrets, `token-${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    return spawnSync(process.execPath, [...SERVICE_NODE_FLAGS, ...(container.args ?? [])], {
      cwd: out,
      env: { PATH: process.env.PATH ?? '', ...env, INGEST_ADDRESS: ingestAddress, INGEST_TOKEN_FILE: file },
      encoding: 'utf8',
      timeout: 30_000,
    });
  }

  it('passes the helm test pod: events through ingest (with its client token), committed by the writer', async () => {
    // The operator's step before `helm test`: `throughline clients create smoke-test --tenants tenant-1`.
    const { token, sha256 } = newClientToken();
    const bus = await connectJetStreamBus({ servers: nats.url, name: 'chart-test' });
    try {
      const record = {
        tokenSha256: sha256,
        certificate: false,
        tenants: ['tenant-1'],
        createdAtMs: Date.now(),
      };
      await (await bus.clients()).put(clientKey('smoke-test'), encodeClientRecord(record));
    } finally {
      await bus.close();
    }
    const run = runTestPod(token);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('ingest accepted 6 events');
    expect(run.stdout).toContain('committed: 6 APPLIED');
    expect(run.status).toBe(0);
  });

  it('refuses the helm test pod without a valid client token: ingest is closed by default', () => {
    const run = runTestPod(newClientToken().token);
    expect(run.stderr).toMatch(/smoke test failed: PublishBatch .*UNAUTHENTICATED.*not a client credential/);
    expect(run.status).toBe(1);
  });

  it('drains every instance on SIGTERM, as a Deployment stops its pods', async () => {
    const exits = await Promise.all(instances.map(({ service }) => service.kill('SIGTERM')));
    expect(exits.map((e) => `${e.code}`)).toEqual(instances.map(() => '0'));
  });
});
