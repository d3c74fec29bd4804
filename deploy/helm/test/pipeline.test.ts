/**
 * The chart's `helm test` script against the runtime tree of the image: the five services started the way the
 * chart starts them (partition owners through partition-owner.mjs with a StatefulSet pod name), on real NATS,
 * Redis and PostgreSQL, then deploy/smoke-test.mjs sends events through ingest and waits for their ledger rows.
 */
import { spawnSync } from 'node:child_process';
import {
  spawnService,
  startNats,
  startPostgres,
  startRedis,
  waitForReady,
  type NatsHandle,
  type PostgresHandle,
  type ReadyPorts,
  type RedisHandle,
  type ServiceProcess,
} from '@throughline/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

const out = inject('runtimeDir');
let nats: NatsHandle;
let redis: RedisHandle;
let postgres: PostgresHandle;
const services: ServiceProcess[] = [];
let ingestAddress: string;

async function start(name: string, args: string[], env: Record<string, string>): Promise<ReadyPorts> {
  const service = spawnService({
    name,
    command: process.execPath,
    args,
    cwd: out,
    env: {
      LOG_LEVEL: 'info',
      PARTITION_COUNT: '4',
      // Any free port; ingest and config report theirs in their ready line.
      HTTP_ADDRESS: '127.0.0.1:0',
      GRPC_ADDRESS: '127.0.0.1:0',
      ...env,
    },
  });
  services.push(service);
  return waitForReady(service, { timeoutMs: 30_000 });
}

beforeAll(async () => {
  [nats, redis, postgres] = await Promise.all([startNats(), startRedis(), startPostgres()]);
  const bus = { NATS_URL: nats.url };
  const config = await start('config', ['apps/config/dist/main.js'], {
    DATABASE_URL: postgres.url,
    SEED_DEMO_TENANTS: 'true',
  });
  const configAddress = `127.0.0.1:${config.grpcPort()}`;
  const [ingest] = await Promise.all([
    start('ingest', ['apps/ingest/dist/main.js'], bus),
    start('enrich', ['deploy/partition-owner.mjs', 'apps/enrich/dist/main.js'], {
      ...bus,
      POD_NAME: 'tl-throughline-enrich-0',
      INSTANCE_COUNT: '1',
      CONFIG_ADDRESS: configAddress,
    }),
    start('state', ['deploy/partition-owner.mjs', 'apps/state/dist/main.js'], {
      ...bus,
      POD_NAME: 'tl-throughline-state-0',
      INSTANCE_COUNT: '1',
      REDIS_URL: redis.url,
      DATABASE_URL: postgres.url,
    }),
    start('writer', ['deploy/partition-owner.mjs', 'apps/writer/dist/main.js'], {
      ...bus,
      POD_NAME: 'tl-throughline-writer-0',
      INSTANCE_COUNT: '1',
      DATABASE_URL: postgres.url,
    }),
  ]);
  ingestAddress = `127.0.0.1:${ingest.grpcPort()}`;
}, 120_000);

afterAll(async () => {
  await Promise.all(services.map((s) => s.kill('SIGKILL')));
  await Promise.all([nats?.stop(), redis?.stop(), postgres?.stop()]);
}, 60_000);

describe('helm test (deploy/smoke-test.mjs)', () => {
  it('sends events through ingest and finds them committed by the writer', () => {
    const run = spawnSync(process.execPath, ['deploy/smoke-test.mjs'], {
      cwd: out,
      env: {
        PATH: process.env.PATH ?? '',
        INGEST_ADDRESS: ingestAddress,
        DATABASE_URL: postgres.url,
        SMOKE_EVENTS: '6',
        SMOKE_TIMEOUT_MS: '20000',
      },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('ingest accepted 6 events');
    expect(run.stdout).toContain('committed: 6 APPLIED');
    expect(run.status).toBe(0);
  });

  it('drains every service on SIGTERM, as the pods are stopped', async () => {
    const exits = await Promise.all(services.map((s) => s.kill('SIGTERM')));
    expect(exits.map((e) => `${e.code}`)).toEqual(services.map(() => '0'));
  });
});
