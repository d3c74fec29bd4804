/**
 * Failovers under load, every acknowledged event accounted for.
 *
 * The state store: Redis with a replica and three Sentinels, the primary killed (kill -9)
 * while the state stage writes to it, and one state instance with it. The Sentinels promote the replica; the state
 * service, which finds the primary through them, follows; whatever the promoted replica had not received yet is
 * detected and rebuilt from PostgreSQL, never used: by the surviving instance for its own partitions (a high-water
 * position below the one it wrote) and for those it takes over from the killed one (below the one PostgreSQL
 * committed).
 *
 * The database: PostgreSQL with a synchronous hot standby, reached through one address (a proxy standing for a
 * virtual IP or an operator's read-write Service). The primary is killed (kill -9); the address moves to the
 * standby while it is still read-only (writes refused, as right after a failover); then it is promoted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWorkload } from '@throughline/ledger';
import { redisRequest, waitFor } from '@throughline/testkit';
import { expectExactlyOnce, serviceCounter } from './exactly-once.js';
import { acquisitions, sendPaced } from './load.js';
import { ledgerCount, startStack, type Stack } from './stack.js';

const EVENTS = 200_000;

describe('Redis failing over to its replica under load', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ redisSentinel: true, partitions: 8, stateInstances: 2, writerInstances: 2 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('loses nothing and applies nothing twice when the primary is killed and a replica that fell behind is promoted', async () => {
    const sentinel = stack.redisSentinel!;
    const events = new LedgerWorkload({ accounts: 2_000, tenants: 5, seed: 43, idPrefix: 'redis-fo' }).take(
      EVENTS,
    );
    const load = sendPaced(stack.ingest, events, { perSecond: 10_000, batchSize: 500 });
    load.done.catch(() => undefined);
    await waitFor(async () => (await ledgerCount(stack.pool)) >= 30_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const primary = await sentinel.primary();
    const replica = sentinel.nodes.find((n) => n !== primary)!;
    // The replica stops receiving (pointed at a port where nothing listens, it keeps its data), so the primary
    // holds writes it never got; then the primary dies, and the Sentinels promote the replica, which is behind.
    const rowsAtCut = await ledgerCount(stack.pool);
    expect(await redisRequest(replica.port, ['REPLICAOF', '127.0.0.1', '1'])).toBe('OK');
    await waitFor(async () => (await ledgerCount(stack.pool)) >= rowsAtCut + 3_000, { timeoutMs: 30_000 });
    const committedAtKill = await ledgerCount(stack.pool);
    const acknowledgedAtKill = load.acknowledged;
    // One state instance stops with the primary (SIGSTOP, so it writes nothing more, and sees nothing of the
    // failover) and is killed once the replica is promoted: the other instance takes its partitions over on a store
    // that lost their last writes, and has no high-water of its own to compare with.
    const [killed, survivor] = [stack.services.get('state-0')!, stack.services.get('state-1')!];
    const takenBefore = acquisitions(survivor.output()).length;
    killed.signal('SIGSTOP');
    const killedAt = performance.now();
    await primary.kill();
    const promoted = await sentinel.waitForNewPrimary(primary);
    expect(promoted).toBe(replica);
    const promotedMs = performance.now() - killedAt;
    await killed.kill('SIGKILL');
    await waitFor(() => acquisitions(survivor.output()).length > takenBefore, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: "the surviving state instance never took over the killed one's partitions",
    });
    await waitFor(async () => (await ledgerCount(stack.pool)) >= committedAtKill + 20_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
      message: 'the pipeline did not go on after the failover',
    });
    const resumedMs = performance.now() - killedAt;
    // The survivor finds the partitions it took over rolled back, comparing with PostgreSQL's high-water.
    const foundOnTakeOver = () => survivor.output().match(/below the \d+ PostgreSQL committed/g)?.length ?? 0;
    await waitFor(() => foundOnTakeOver() > 0, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: 'the instance that took the partitions over never found them rolled back',
    });
    const takenOverRolledBack = foundOnTakeOver();
    await killed.restart();
    // The old primary comes back as a replica of the new one.
    await primary.restart();
    await sentinel.waitForReplication();
    expect(await sentinel.primary()).toBe(promoted);
    await load.done;
    const recovered = (kind: string) =>
      serviceCounter(stack, 'state', 'tl_state_store_recoveries_total', { tl_kind: kind });
    process.stdout.write(
      `Redis failover: primary killed with ${acknowledgedAtKill - committedAtKill} events in flight; replica promoted ` +
        `after ${Math.round(promotedMs)} ms, 20,000 more committed after ${Math.round(resumedMs)} ms; partitions ` +
        `rebuilt: ${await recovered('rolled_back')} rolled back (${takenOverRolledBack} found by the instance ` +
        `that took them over from the killed one), ${await recovered('lost')} lost; ` +
        `client retries ${JSON.stringify(load.retries)}\n`,
    );
    // The promoted replica lacked the writes of the pause: the state stage saw its partitions rolled back and
    // rebuilt them from PostgreSQL.
    expect(await recovered('rolled_back')).toBeGreaterThan(0);
    await expectExactlyOnce(
      stack,
      events.map((e) => e.eventId),
    );
  });
});

describe('PostgreSQL failing over to its standby under load', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ postgresStandby: true, partitions: 8, stateInstances: 2, writerInstances: 2 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('loses nothing and applies nothing twice when the primary dies and the standby is promoted', async () => {
    const proxy = stack.databaseProxy!;
    const standby = stack.postgresStandby!;
    const events = new LedgerWorkload({ accounts: 2_000, tenants: 5, seed: 47, idPrefix: 'pg-fo' }).take(
      EVENTS,
    );
    const load = sendPaced(stack.ingest, events, { perSecond: 10_000, batchSize: 500 });
    load.done.catch(() => undefined);
    await waitFor(async () => (await ledgerCount(stack.pool)) >= 30_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const committedAtKill = await ledgerCount(stack.pool);
    const acknowledgedAtKill = load.acknowledged;
    const killedAt = performance.now();
    await stack.postgres.kill();
    // The address moves to the standby before it is promoted: connections are reset, writes refused as read-only.
    proxy.retarget(standby.port);
    // What the standby holds now is everything the old primary committed (synchronous replication): at least what
    // was counted before the kill. Nothing more is committed while it is read-only.
    const count = () => waitFor(() => ledgerCount(stack.pool), { timeoutMs: 10_000, intervalMs: 100 });
    const atFailover = await count();
    expect(atFailover).toBeGreaterThanOrEqual(committedAtKill);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await count()).toBe(atFailover);
    await standby.promote();
    const promotedMs = performance.now() - killedAt;
    await waitFor(async () => (await ledgerCount(stack.pool)) >= committedAtKill + 20_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
      message: 'the pipeline did not go on after the standby was promoted',
    });
    const resumedMs = performance.now() - killedAt;
    await load.done;
    const failures = (kind: string) =>
      serviceCounter(stack, 'writer', 'tl_turn_failures_total', { tl_dependency: 'postgres', tl_kind: kind });
    // The failover reached the writers: their turns failed on PostgreSQL (connections reset, writes refused as
    // read-only) and were retried.
    const retried = await failures('dependency');
    expect(retried).toBeGreaterThan(0);
    process.stdout.write(
      `PostgreSQL failover: primary killed with ${acknowledgedAtKill - committedAtKill} events in flight; ` +
        `${atFailover - committedAtKill} rows committed after the count before the kill were on the standby, ` +
        `nothing committed while read-only; promoted after ` +
        `${Math.round(promotedMs)} ms, 20,000 more committed after ${Math.round(resumedMs)} ms; writer turns ` +
        `retried on PostgreSQL: ${retried}; client retries ${JSON.stringify(load.retries)}\n`,
    );
    await expectExactlyOnce(
      stack,
      events.map((e) => e.eventId),
    );
  });
});
