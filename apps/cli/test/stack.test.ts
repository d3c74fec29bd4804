/**
 * `throughline up` against isolated test-kit servers, then `load`, `verify` and `config` against the stack it runs,
 * and a clean stop. The CLI runs as child processes, as a user would run it.
 */
import pg from 'pg';
import {
  spawnService,
  startNats,
  startPostgres,
  startRedis,
  waitFor,
  type NatsHandle,
  type PostgresHandle,
  type RedisHandle,
  type ServiceProcess,
} from '@throughline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connectJetStreamBus, type BusMessage } from '@throughline/bus';
import { EnrichedBatch, EventBatch, partitionOf, subjects } from '@throughline/contracts';
import { enrichEvent, LedgerWorkload } from '@throughline/ledger';
import { createRedisStateStore, readDeploymentId, stateKeyPrefixFor } from '@throughline/stores';
import type { DeadLetterView } from '../src/commands/dlq.js';
import { CLI, runCli } from './cli.js';

let nats: NatsHandle;
let redis: RedisHandle;
let postgres: PostgresHandle;
let databaseUrl: string;
let pool: pg.Pool;
let up: ServiceProcess;
let ingestAddress: string;
let configAddress: string;

beforeAll(async () => {
  [nats, redis, postgres] = await Promise.all([startNats(), startRedis(), startPostgres()]);
  databaseUrl = await postgres.createDatabase('throughline');
  pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  pool.on('error', () => undefined);
  up = spawnService({
    name: 'up',
    command: process.execPath,
    args: [
      CLI,
      'up',
      '--nats-url',
      nats.url,
      '--redis-url',
      redis.url,
      '--database-url',
      databaseUrl,
      '--partitions',
      '8',
      '--state-instances',
      '2',
      // Port 0: the services bind any free port and `up` reports it (a port picked here could be taken meanwhile).
      '--ingest-address',
      '127.0.0.1:0',
      '--config-address',
      '127.0.0.1:0',
      '--http-port-base',
      '0',
    ],
    env: { NO_COLOR: '1' },
    // Scale commands go to its stdin, as a user types them.
    input: true,
  });
  const [, ingest, config] = await up.waitForOutput(
    /throughline is up.*: ingest on (127\.0\.0\.1:\d+), config on (127\.0\.0\.1:\d+),/,
    { timeoutMs: 120_000 },
  );
  expect(ingest).not.toMatch(/:0$/);
  expect(config).not.toMatch(/:0$/);
  ingestAddress = ingest!;
  configAddress = config!;
});

afterAll(async () => {
  await up?.kill('SIGTERM').catch(() => undefined);
  await pool?.end().catch(() => undefined);
  await Promise.allSettled([nats?.stop(), redis?.stop(), postgres?.stop()]);
});

async function ledgerRows(where = 'true'): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ledger WHERE ${where}`);
  return rows[0]!.n;
}

describe('throughline up, load, verify and config', () => {
  it('starts every service with one prefixed, readable log stream', () => {
    const out = up.output();
    for (const name of ['config', 'ingest', 'enrich', 'state-0', 'state-1', 'writer']) {
      expect(out).toMatch(new RegExp(`^${name}\\s*\\| \\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  ready `, 'm'));
    }
  });

  it('lists the demo tenants through the ConfigService', async () => {
    const run = await runCli(['config', 'list', '--config-address', configAddress, '--json']);
    expect(run.code).toBe(0);
    const list = JSON.parse(run.stdout) as { configs: { tenantId: string }[] };
    expect(list.configs.map((c) => c.tenantId)).toEqual([
      'tenant-1',
      'tenant-2',
      'tenant-3',
      'tenant-4',
      'tenant-5',
    ]);
  });

  it('takes 200,000 events from load, commits each once, and verifies', async () => {
    const run = await runCli([
      'load',
      '--events',
      '200000',
      '--target',
      ingestAddress,
      '--seed',
      '3',
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      acceptedEvents: number;
      errors: Record<string, number>;
      latencyMs: { p99: number };
    };
    expect(report.acceptedEvents).toBe(200_000);
    expect(report.errors).toEqual({});
    await waitFor(async () => (await ledgerRows()) >= 200_000, {
      timeoutMs: 180_000,
      intervalMs: 500,
      message: 'ledger did not reach 200,000 rows',
    });
    expect(await ledgerRows()).toBe(200_000);

    const verified = await runCli(['verify', '--database-url', databaseUrl]);
    expect(verified.stdout).toMatch(/^OK: 200,000 ledger rows/);
    expect(verified.code).toBe(0);
  });

  it('changes a tenant without a restart: the running enrich actors apply it', async () => {
    const set = await runCli([
      'config',
      'set',
      'tenant-1',
      '--enabled',
      'false',
      '--fee-bps',
      '12',
      '--config-address',
      configAddress,
      '--json',
    ]);
    expect(set.code).toBe(0);
    const stored = JSON.parse(set.stdout) as {
      version: string;
      enabled: boolean;
      feeBps: number;
      baseCurrency: string;
    };
    expect(stored).toMatchObject({ enabled: false, feeBps: 12, baseCurrency: 'EUR' });
    const got = await runCli(['config', 'get', 'tenant-1', '--config-address', configAddress]);
    expect(got.stdout).toMatch(/^tenant-1 \(version \d+\)\n\s+enabled\s+false/);

    // The enrich service hears of the change through Watch: wait for it to say so before sending.
    await waitFor(
      () =>
        up
          .output()
          .split('\n')
          .some(
            (l) =>
              /^enrich\s*\|.* configuration changed /.test(l) &&
              l.includes('tenant=tenant-1') &&
              l.includes(`version=${stored.version}`),
          ),
      { timeoutMs: 30_000, intervalMs: 100, message: 'enrich never logged the change of tenant-1' },
    );
    const run = await runCli([
      'load',
      '--events',
      '2000',
      '--tenants',
      '1',
      '--seed',
      '4',
      '--duplicates',
      '0.1',
      '--invalid',
      '0.02',
      '--target',
      ingestAddress,
      '--json',
    ]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      acceptedEvents: number;
      resentEvents: number;
      malformedSent: number;
      malformedRefused: number;
      errors: object;
    };
    expect(report.malformedSent).toBeGreaterThan(0);
    expect(report.malformedRefused).toBe(report.malformedSent);
    expect(report.resentEvents).toBeGreaterThan(0);
    expect(report.errors).toEqual({});
    const fresh = report.acceptedEvents - report.resentEvents;
    await waitFor(async () => (await ledgerRows()) >= 200_000 + fresh, {
      timeoutMs: 60_000,
      intervalMs: 250,
      message: 'the new events were not committed',
    });
    expect(await ledgerRows(`reject_reason = 'TENANT_DISABLED' AND config_version = ${stored.version}`)).toBe(
      fresh,
    );
    expect(await ledgerRows()).toBe(200_000 + fresh);
    expect((await runCli(['verify', '--database-url', databaseUrl])).code).toBe(0);
  });

  it('shows, per stage and partition, the owner, epoch and lag; scales a stage while it runs', async () => {
    interface Status {
      stage: string;
      members: { member: string }[];
      partitions: { partition: number; owner: string; epoch: number }[];
      lag: Record<string, number>;
    }
    const status = async (): Promise<Status[]> => {
      const run = await runCli(['status', '--nats-url', nats.url, '--partitions', '8', '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      return JSON.parse(run.stdout) as Status[];
    };
    const owners = (s: Status[], stage: string) =>
      new Set(s.find((x) => x.stage === stage)!.partitions.map((p) => p.owner));
    const before = await status();
    expect(before.map((s) => s.stage)).toEqual(['enrich', 'state', 'writer']);
    for (const s of before) {
      expect(s.partitions.every((p) => p.owner !== '' && p.epoch > 0)).toBe(true);
      expect(Object.values(s.lag)).toEqual(Array.from({ length: 8 }, () => 0));
    }
    expect([...owners(before, 'state')].sort()).toEqual([
      expect.stringMatching(/^state-0-/),
      expect.stringMatching(/^state-1-/),
    ]);
    const table = await runCli(['status', '--nats-url', nats.url, '--partitions', '8']);
    expect(table.stdout).toMatch(/^state {2}instances: state-0-\w+, state-1-\w+$/m);
    expect(table.stdout).toMatch(/^\s+partition\s+owner\s+epoch\s+lag\s+since\s+last hand-over$/m);

    // A user types a scale command into `up`: a third state instance starts and takes its share.
    up.write('scale state 3\n');
    await up.waitForOutput(/state: 3 instances \(state-0, state-1, state-2\)/, { timeoutMs: 60_000 });
    await waitFor(async () => owners(await status(), 'state').size === 3, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    up.write('scale state 1\n');
    await up.waitForOutput(/state: 1 instances \(state-0\)/, { timeoutMs: 60_000 });
    await waitFor(async () => owners(await status(), 'state').size === 1, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    const after = (await status()).find((s) => s.stage === 'state')!;
    expect(after.partitions.some((p) => p.epoch > 0)).toBe(true);
    up.write('scale state 99\n');
    await up.waitForOutput(/commands: scale <enrich\|state\|writer> <instances> \(1 to 8 instances\)/);
    // Still exactly once, after the partitions moved twice.
    const run = await runCli([
      'load',
      '--events',
      '20000',
      '--target',
      ingestAddress,
      '--seed',
      '5',
      '--json',
    ]);
    expect(run.code).toBe(0);
    const total = 200_000 + 20_000 + ((await ledgerRows()) - 200_000 - 20_000);
    await waitFor(async () => (await ledgerRows()) >= total, { timeoutMs: 60_000, intervalMs: 250 });
    expect((await runCli(['verify', '--database-url', databaseUrl])).code).toBe(0);
  });

  it('works the dead letters: list, show, redrive once the cause is fixed (exactly once), purge', async () => {
    const bus = await connectJetStreamBus({ servers: nats.url, name: 'cli-dlq-test' });
    const dlq = (args: string[]) => runCli(['dlq', ...args, '--nats-url', nats.url, '--partitions', '8']);
    const letters = async (args: string[] = []): Promise<DeadLetterView[]> => {
      const run = await dlq(['list', '--json', ...args]);
      expect(run.stderr).toBe('');
      return JSON.parse(run.stdout) as DeadLetterView[];
    };
    try {
      // A producer that bypasses ingest: one undecodable message, and a batch sent to the wrong partition holding
      // two events of other partitions' accounts and one event no ingest would accept.
      const events = new LedgerWorkload({ accounts: 50, seed: 77, idPrefix: 'dlq' }).take(50);
      const foreign = events.filter((e) => partitionOf(e.accountId, 8) !== 5).slice(0, 2);
      const invalid = {
        ...events.find((e) => partitionOf(e.accountId, 8) === 5)!,
        eventId: 'dlq-invalid',
        amountMinor: 0n,
      };
      const batch = (id: string) =>
        EventBatch.encode({
          batchId: id,
          partition: 5,
          acceptedAtMs: BigInt(Date.now()),
          events: [...foreign, invalid],
          redrivenFrom: [],
        }).finish();
      await bus.publish(subjects.of('ingested', 0), new Uint8Array([0xff, 0xff, 0xff]), {
        msgId: 'dlq-garbage',
      });
      await bus.publish(subjects.of('ingested', 5), batch('dlq-wrong-1'), { msgId: 'dlq-wrong-1' });
      await waitFor(async () => (await letters()).length === 4, { timeoutMs: 30_000, intervalMs: 250 });

      const all = await letters(['--stage', 'enrich']);
      expect(all.map((l) => [l.partition, l.part, l.events])).toEqual([
        [0, null, null],
        [5, 0, 1],
        [5, 1, 1],
        [5, 2, 1],
      ]);
      const wrong = await letters(['--reason', 'belongs to partition']);
      expect(wrong).toHaveLength(2);
      expect(await letters(['--stage', 'state'])).toEqual([]);
      const table = await dlq(['list']);
      expect(table.stdout).toMatch(/seq\s+dead-lettered at\s+stage\s+partition\s+item\s+events\s+reason/);
      const shown = JSON.parse((await dlq(['show', String(wrong[0]!.seq)])).stdout) as {
        body: { events: { eventId: string }[] };
        headers: Record<string, string>;
      };
      expect(shown.body.events.map((e) => e.eventId)).toEqual([foreign[0]!.eventId]);
      expect(shown.headers['Tl-Dead-Letter-Part']).toBe('0');

      // Redrive needs a selection; what still fails stays, and says why.
      expect((await dlq(['redrive'])).code).toBe(2);
      const refused = await dlq(['redrive', '--partition', '0']);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toMatch(/not redriven: \d+: its body cannot be decoded/);

      // The cause is fixed by routing: redriven events go to their account's partition, and are applied once.
      const redriven = await dlq(['redrive', '--reason', 'belongs to partition']);
      expect(redriven.stdout).toBe('redrove 2 dead letters (2 events)\n');
      expect(redriven.code).toBe(0);
      const ids = foreign.map((e) => `'${e.eventId}'`).join(',');
      await waitFor(async () => (await ledgerRows(`event_id IN (${ids})`)) === 2, {
        timeoutMs: 30_000,
        intervalMs: 250,
      });
      expect((await dlq(['redrive', String(wrong[0]!.seq)])).stderr).toMatch(/no dead letter/);

      // The same mistake again, redriven again: the events are not applied twice.
      await bus.publish(subjects.of('ingested', 5), batch('dlq-wrong-2'), { msgId: 'dlq-wrong-2' });
      await waitFor(async () => (await letters(['--reason', 'belongs to partition'])).length === 2, {
        timeoutMs: 30_000,
        intervalMs: 250,
      });
      expect((await dlq(['redrive', '--reason', 'belongs to partition'])).code).toBe(0);
      await waitFor(async () => (await letters(['--reason', 'belongs to partition'])).length === 0, {
        timeoutMs: 10_000,
        intervalMs: 250,
      });
      const check = await runCli(['verify', '--database-url', databaseUrl]);
      expect(check.code).toBe(0);
      expect(await ledgerRows(`event_id IN (${ids})`)).toBe(2);

      // A dead letter of the state stage: the stage claimed its event's id for the position it had before the turn
      // failed. Redriven, the event gets a new position and the claim passes to it: applied once, not skipped.
      const stateEvent = {
        ...events.find((e) => partitionOf(e.accountId, 8) === 2)!,
        eventId: 'dlq-state-1',
      };
      const position = (9_000_000n << 16n) | 3n;
      const client = new Redis(redis.url);
      try {
        const keyPrefix = stateKeyPrefixFor(await readDeploymentId(pool));
        const store = createRedisStateStore(client, { keyPrefix });
        expect((await store.read(2, [], [{ eventId: 'dlq-state-1', position }], Date.now())).taken.size).toBe(
          0,
        );
      } finally {
        client.disconnect();
      }
      const failed: BusMessage = {
        subject: subjects.of('enriched', 2),
        topic: 'enriched',
        partition: 2,
        data: EnrichedBatch.encode({
          batchId: 'dlq-state',
          partition: 2,
          configVersion: 0n,
          producerEpoch: 1n,
          events: [enrichEvent(stateEvent, position, BigInt(Date.now()), undefined)],
        }).finish(),
        headers: new Map(),
        seq: 9_000_000,
        deliveryCount: 2,
        publishedAtMs: Date.now(),
        ack: () => Promise.resolve(),
        nak: () => undefined,
        working: () => undefined,
      };
      await bus.deadLetter(failed, 'state: poison: a check the test stands for');
      expect((await letters(['--stage', 'state'])).map((l) => [l.partition, l.events])).toEqual([[2, 1]]);
      expect((await dlq(['redrive', '--stage', 'state'])).stdout).toMatch(
        /^redrove 1 dead letters? \(1 events?\)/,
      );
      await waitFor(async () => (await ledgerRows(`event_id = 'dlq-state-1'`)) === 1, {
        timeoutMs: 30_000,
        intervalMs: 250,
      });
      expect((await runCli(['verify', '--database-url', databaseUrl])).code).toBe(0);

      // A writer's dead letter: PostgreSQL refuses one result of a batch for its content (here a constraint an
      // operator added by mistake). Only that result is dead-lettered, the other one is committed; once the
      // constraint is gone, the redrive sends it back to the writer, which commits it once.
      const [first, second] = events.filter((e) => partitionOf(e.accountId, 8) === 6);
      const writerEvents = [
        { ...first!, eventId: 'dlq-writer-ok' },
        { ...second!, eventId: 'dlq-writer-refused' },
      ];
      await pool.query(
        "ALTER TABLE ledger ADD CONSTRAINT dlq_test_refused CHECK (event_id <> 'dlq-writer-refused')",
      );
      try {
        await bus.publish(
          subjects.of('ingested', 6),
          EventBatch.encode({
            batchId: 'dlq-writer',
            partition: 6,
            acceptedAtMs: BigInt(Date.now()),
            events: writerEvents,
            redrivenFrom: [],
          }).finish(),
          { msgId: 'dlq-writer' },
        );
        await waitFor(async () => (await letters(['--stage', 'writer'])).length === 1, {
          timeoutMs: 30_000,
          intervalMs: 250,
        });
      } finally {
        await pool.query('ALTER TABLE ledger DROP CONSTRAINT dlq_test_refused');
      }
      const [refusedResult] = await letters(['--stage', 'writer']);
      expect([refusedResult!.partition, refusedResult!.events]).toEqual([6, 1]);
      expect(refusedResult!.reason).toMatch(/^writer: integrity_violation: /);
      expect(await ledgerRows(`event_id = 'dlq-writer-ok'`)).toBe(1);
      expect(await ledgerRows(`event_id = 'dlq-writer-refused'`)).toBe(0);
      for (let i = 0; i < 2; i++) {
        // Twice: the second finds nothing left to send (the first removed the dead letter).
        const again = await dlq(['redrive', '--stage', 'writer']);
        expect(again.stdout).toBe(
          i === 0 ? 'redrove 1 dead letters (1 events)\n' : 'redrove 0 dead letters (0 events)\n',
        );
      }
      await waitFor(async () => (await ledgerRows(`event_id = 'dlq-writer-refused'`)) === 1, {
        timeoutMs: 30_000,
        intervalMs: 250,
      });
      expect((await runCli(['verify', '--database-url', databaseUrl])).code).toBe(0);

      // The filters select by partition and by age, for listing and for purging.
      expect((await letters(['--partition', '0'])).map((l) => l.partition)).toEqual([0]);
      expect(await letters(['--since', '1h'])).toHaveLength(3);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await letters(['--since', '1s'])).toEqual([]);
      expect((await dlq(['purge', '--partition', '0'])).stdout).toMatch(/^purged 1 dead letters?\n$/);
      expect((await letters()).map((l) => l.partition)).toEqual([5, 5]);
      expect((await dlq(['purge', '--all'])).stdout).toBe('purged 2 dead letters\n');
      expect(await letters()).toEqual([]);
    } finally {
      await bus.close();
    }
  });

  it('stops every service cleanly on SIGTERM', async () => {
    const status = await up.kill('SIGTERM');
    expect(status.code).toBe(0);
    expect(up.output()).toMatch(/stopped\n/);
    expect(up.output()).not.toMatch(/exited with an error/);
  });
});
