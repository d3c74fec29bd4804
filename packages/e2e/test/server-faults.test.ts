/**
 * Servers and services that die, restart or change under a steady load: NATS, PostgreSQL and Redis killed (-9)
 * and restarted (Redis empty), the services' PostgreSQL password rotated, ingest, enrich and config killed, and a
 * client retry storm. Each ends with every acknowledged event in exactly one ledger row, `verify` clean, Redis
 * agreeing with PostgreSQL and nothing dead-lettered.
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWorkload } from '@throughline/ledger';
import type { Event } from '@throughline/contracts';
import { runFault } from './fault-run.js';
import { expectExactlyOnce, stateDuplicates } from './exactly-once.js';
import { sendPaced } from './load.js';
import { publishBatch, sendEvents, startStack, waitForIdle, waitForLedger, type Stack } from './stack.js';

const EVENTS_PER_FAULT = 50_000;
const RATE = 10_000;

describe('servers and services that die or change under load', () => {
  let stack: Stack;
  const acknowledged: string[] = [];
  const report: string[] = [];
  const run = { acknowledged, report, redisLost: false, accounts: new Map<string, string>() };

  beforeAll(async () => {
    stack = await startStack({
      partitions: 8,
      stateInstances: 2,
      writerInstances: 2,
      databasePassword: true,
      // Low enough that the retry storm below is refused (RESOURCE_EXHAUSTED) part of the time.
      serviceEnv: { ingest: { INGEST_MAX_IN_FLIGHT_EVENTS: '4000' } },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    if (report.length > 0) process.stdout.write(`\n${report.join('\n')}\n`);
  });

  const logsOf = (app: 'state' | 'writer') =>
    stack
      .instances(app)
      .map((s) => s.output())
      .join('\n');

  it('NATS killed (-9) and restarted 3 s later: ingest refuses meanwhile, the stages resume', async () => {
    const { load } = await runFault(stack, run, {
      name: 'nats-kill',
      seed: 51,
      events: EVENTS_PER_FAULT,
      perSecond: RATE,
      fault: {
        apply: async () => void (await stack.nats.kill()),
        heal: () => stack.nats.restart(),
        durationMs: 3_000,
      },
    });
    // The client saw the outage (and retried), so the fault hit work in flight.
    expect(load.retries.UNAVAILABLE ?? 0).toBeGreaterThan(0);
  });

  it('PostgreSQL killed (-9) and restarted 3 s later: the writer and the state stage wait it out', async () => {
    const { observed } = await runFault(stack, run, {
      name: 'pg-kill',
      seed: 52,
      events: EVENTS_PER_FAULT,
      perSecond: RATE,
      fault: {
        apply: async () => void (await stack.postgres.kill()),
        heal: () => stack.postgres.restart(),
        durationMs: 3_000,
        // Both stages use PostgreSQL: the writer commits, the state stage reads accounts Redis does not hold.
        // Which meets the outage first depends on the moment (state stalled on a new account sends the writer
        // nothing to commit), so both are watched; at least one of them must have waited.
        watch: { app: ['writer', 'state'], dependency: 'postgres' },
      },
    });
    expect(observed.maxStalled).toBeGreaterThan(0);
  });

  it('Redis killed (-9) and restarted empty 3 s later: state waits, then rebuilds from PostgreSQL', async () => {
    const rebuildsBefore = (logsOf('state').match(/state store lost this partition/g) ?? []).length;
    const { observed } = await runFault(stack, run, {
      name: 'redis-kill',
      seed: 53,
      events: EVENTS_PER_FAULT,
      perSecond: RATE,
      fault: {
        apply: async () => {
          await stack.redis.kill();
          run.redisLost = true;
        },
        heal: () => stack.redis.restart(),
        durationMs: 3_000,
        watch: { app: 'state', dependency: 'redis' },
      },
    });
    expect(observed.maxStalled).toBeGreaterThan(0);
    expect((logsOf('state').match(/state store lost this partition/g) ?? []).length).toBeGreaterThan(
      rebuildsBefore,
    );
  });

  it("the services' PostgreSQL password rotated: refused for 6 s until the file has it, nothing lost", async () => {
    const role = stack.databaseRole!;
    const next = `rotated-${Date.now()}`;
    const { observed } = await runFault(stack, run, {
      name: 'pg-password',
      seed: 54,
      events: EVENTS_PER_FAULT,
      perSecond: RATE,
      fault: {
        async apply() {
          await stack.pool.query(`ALTER ROLE ${role.name} PASSWORD '${next}'`);
          // Open sessions stay logged in; ending them makes every service log in again, with the old password.
          await stack.pool.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1',
            [role.name],
          );
        },
        heal: () => Promise.resolve(writeFileSync(role.passwordFile, next)),
        durationMs: 6_000,
        // The writer and the state stage both log in again; which one has work to do in those 6 s varies (right
        // after the Redis test, state rebuilds from PostgreSQL and the writer may have nothing to commit).
        watch: { app: ['writer', 'state'], dependency: 'postgres' },
      },
    });
    expect(observed.maxStalled).toBeGreaterThan(0);
    expect(observed.notReady.some((b) => /stalled on postgres \(authentication\)/.test(b))).toBe(true);
    expect(logsOf('writer')).not.toContain(next);
  });

  it('ingest, enrich and config killed (-9) and restarted: clients retry, nothing lost', async () => {
    const names = ['ingest', 'enrich', 'config'];
    const { load } = await runFault(stack, run, {
      name: 'service-kill',
      seed: 55,
      events: EVENTS_PER_FAULT,
      perSecond: RATE,
      fault: {
        apply: async () => {
          const exits = await Promise.all(names.map((n) => stack.services.get(n)!.kill('SIGKILL')));
          expect(exits.map((e) => e.signal)).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL']);
        },
        heal: async () => {
          await stack.restart('config');
          await Promise.all([stack.restart('ingest'), stack.restart('enrich')]);
        },
        // Down for 3 s before the restarts begin (each takes about another second), as the servers are.
        durationMs: 3_000,
      },
    });
    expect(load.retries.UNAVAILABLE ?? 0).toBeGreaterThan(0);
  });

  it('a retry storm of events already committed beside new load: refused with hints, applied once', async () => {
    // Events committed first, then sent again by 16 eager clients that honour only the retry hint.
    const old: Event[] = new LedgerWorkload({
      accounts: 3000,
      tenants: 5,
      seed: 57,
      idPrefix: 'storm-old',
    }).take(16_000);
    await sendEvents(stack.ingest, old, { batchSize: 500, concurrency: 4 });
    acknowledged.push(...old.map((e) => e.eventId));
    await waitForLedger(stack.pool, acknowledged.length);
    const duplicatesBefore = await stateDuplicates(stack);
    let storming = false;
    let stormDone: Promise<void> = Promise.resolve();
    const storm = { sent: 0, refused: 0 };
    const { load } = await runFault(stack, run, {
      name: 'retry-storm',
      seed: 56,
      events: EVENTS_PER_FAULT,
      perSecond: RATE,
      fault: {
        apply: () => {
          storming = true;
          stormDone = Promise.all(
            Array.from({ length: 16 }, async (_, worker) => {
              for (let i = worker * 1000; storming; i = (i + 1000) % old.length) {
                const chunk = old.slice(i, i + 1000);
                try {
                  await publishBatch(stack.ingest, chunk);
                  storm.sent += chunk.length;
                } catch (err) {
                  const e = err as grpc.ServiceError;
                  if (e.code !== grpc.status.RESOURCE_EXHAUSTED) throw err;
                  storm.refused++;
                  await new Promise((r) => setTimeout(r, Number(e.metadata.get('retry-after-ms')[0])));
                }
              }
            }),
          ).then(() => undefined);
          return Promise.resolve();
        },
        heal: async () => {
          storming = false;
          await stormDone;
        },
        durationMs: 4_000,
      },
    });
    report.push(
      `[e2e] retry-storm: ${storm.sent} committed events sent again, ${storm.refused} storm requests refused ` +
        `(RESOURCE_EXHAUSTED), ${load.retries.RESOURCE_EXHAUSTED ?? 0} of the paced load's`,
    );
    expect(storm.sent).toBeGreaterThan(10_000);
    expect(storm.refused + (load.retries.RESOURCE_EXHAUSTED ?? 0)).toBeGreaterThan(0);
    // The storm's events reached the state stage and were recognised there, not only by JetStream's window.
    expect((await stateDuplicates(stack)) - duplicatesBefore).toBeGreaterThan(0);
  });

  it('the JetStream store lost while idle: the services recreate streams, consumers and leases; positions go on', async () => {
    // Accounts with state: their positions so far come from the stream about to be lost.
    const before = new LedgerWorkload({ accounts: 3000, tenants: 5, seed: 59, idPrefix: 'before-loss' }).take(
      20_000,
    );
    await sendEvents(stack.ingest, before, { batchSize: 500, concurrency: 4 });
    acknowledged.push(...before.map((e) => e.eventId));
    await waitForLedger(stack.pool, acknowledged.length);
    await waitForIdle(stack);
    const duplicatesBefore = await stateDuplicates(stack);
    await stack.nats.kill();
    for (const entry of readdirSync(stack.nats.storeDir))
      rmSync(join(stack.nats.storeDir, entry), { recursive: true, force: true });
    await stack.nats.restart();
    // New events of the accounts every earlier test used: under positions that started again at 1 they would be
    // taken for duplicates and dropped.
    const events = new LedgerWorkload({ accounts: 3000, tenants: 5, seed: 58, idPrefix: 'store-lost' }).take(
      40_000,
    );
    const sending = sendPaced(stack.ingest, events, { perSecond: RATE });
    await sending.done;
    acknowledged.push(...events.map((e) => e.eventId));
    await expectExactlyOnce(stack, acknowledged, { redisLost: run.redisLost });
    expect((await stateDuplicates(stack)) - duplicatesBefore).toBe(0);
    report.push(
      `[e2e] store-lost: NATS restarted with an empty store; ${events.length} new events sent, acknowledged and ` +
        `committed, none taken for a duplicate; client retries: ${JSON.stringify(sending.retries)}`,
    );
  });
});
