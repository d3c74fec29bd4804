/**
 * The state service on real NATS, Redis and PostgreSQL, as the chart runs it with least-privilege roles: it starts
 * on a current schema as its own role (which may only read), and refuses to start on an older one, saying what to run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';
import { grantServiceRoles, migrate, MIGRATIONS } from '@throughline/stores';
import {
  spawnService,
  startNats,
  startPostgres,
  startRedis,
  type NatsHandle,
  type PostgresHandle,
  type RedisHandle,
} from '@throughline/testkit';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/main.js');
const LATEST = MIGRATIONS.at(-1)!.version;
let nats: NatsHandle;
let redis: RedisHandle;
let postgres: PostgresHandle;
const dir = mkdtempSync(join(tmpdir(), 'tl-state-app-'));

beforeAll(async () => {
  [nats, redis, postgres] = await Promise.all([startNats(), startRedis(), startPostgres()]);
});
afterAll(async () => {
  await Promise.all([nats?.stop(), redis?.stop(), postgres?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

function startState(env: Record<string, string>) {
  return spawnService({
    name: 'state',
    command: process.execPath,
    args: [...SERVICE_NODE_FLAGS, MAIN],
    env: {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      PARTITION_COUNT: '2',
      HTTP_ADDRESS: '127.0.0.1:0',
      LOG_LEVEL: 'info',
      ...env,
    },
  });
}

describe('the state service and the schema', () => {
  it('starts as its least-privilege role on a current schema, and drains on SIGTERM', async () => {
    const url = await postgres.createDatabase('state_role');
    const owner = new pg.Pool({ connectionString: url, max: 2 });
    try {
      await migrate(owner);
      await grantServiceRoles(owner, {
        prefix: 'app',
        roles: ['state'],
        passwords: { state: 'state-pw-31c' },
      });
    } finally {
      await owner.end();
    }
    await postgres.requirePassword('app_state', 'state_role');
    const passwordFile = join(dir, 'state-password');
    writeFileSync(passwordFile, 'state-pw-31c\n', { mode: 0o600 });
    const state = startState({
      DATABASE_URL: url,
      DATABASE_USER: 'app_state',
      DATABASE_PASSWORD_FILE: passwordFile,
      DATABASE_MIGRATE: 'off',
    });
    try {
      await state.waitForOutput(/"msg":"ready"/, { timeoutMs: 60_000 });
    } finally {
      const exit = await state.kill('SIGTERM');
      expect(exit.code, state.output()).toBe(0);
    }
    expect(state.output()).not.toContain('state-pw-31c');
  });

  it('refuses to start on a schema older than it needs when it may not migrate', async () => {
    const url = await postgres.createDatabase();
    const state = startState({ DATABASE_URL: url, DATABASE_MIGRATE: 'off' });
    const exit = await state.exited;
    expect(exit.code).not.toBe(0);
    expect(state.output()).toContain(
      `the database schema is at version 0 and this build needs ${LATEST}: run the migrations first`,
    );
  });
});
