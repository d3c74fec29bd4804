/**
 * Dependencies that answer but refuse, for several seconds under a steady load: Redis out of memory (noeviction)
 * and PostgreSQL read only (as right after a fail-over). The five services run as processes over real servers;
 * every acknowledged event must end in exactly one ledger row, nothing may be dead-lettered, and the wait must be
 * visible while it lasts (/readyz, the stalled-partition gauge, the log).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnrichedBatch, EventBatch, partitionOf, subjects, type Event } from '@throughline/contracts';
import { enrichEvent, LedgerWorkload } from '@throughline/ledger';
import { waitFor } from '@throughline/testkit';
import { expectExactlyOnce } from './exactly-once.js';
import { deadLettersAfter, lastDeadLetter, runFault, type Fault, type Observed } from './fault-run.js';
import { metricSum, scrapeMetrics, sendPaced } from './load.js';
import { ledgerCount, startStack, type Stack } from './stack.js';

const EVENTS_PER_FAULT = 70_000;
const RATE = 10_000;
const FAULT_MS = 6_000;

describe('dependencies that refuse for a while, under load', () => {
  let stack: Stack;
  let redis: Redis;
  const acknowledged: string[] = [];
  const accounts = new Map<string, string>();
  const report: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ partitions: 8, stateInstances: 2, writerInstances: 2 });
    redis = new Redis(stack.redis.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
    if (report.length > 0) process.stdout.write(`\n${report.join('\n')}\n`);
  });

  const underLoad = async (seed: number, name: string, fault: Omit<Fault, 'durationMs'>): Promise<Observed> =>
    (
      await runFault(
        stack,
        { acknowledged, report, accounts },
        {
          name,
          seed,
          events: EVENTS_PER_FAULT,
          perSecond: RATE,
          fault: { ...fault, durationMs: FAULT_MS },
        },
      )
    ).observed;

  it('Redis out of memory for 6 s: the state stage waits it out; nothing lost, nothing twice, nothing dead-lettered', async () => {
    const observed = await underLoad(41, 'redis-oom', {
      watch: { app: 'state', dependency: 'redis' },
      async apply() {
        await redis.config('SET', 'maxmemory-policy', 'noeviction');
        await redis.config('SET', 'maxmemory', '1');
      },
      async heal() {
        await redis.config('SET', 'maxmemory', '0');
      },
    });
    expect(observed.maxStalled).toBeGreaterThan(0);
    expect(observed.notReady.some((b) => /stalled on redis \(OOM\)/.test(b))).toBe(true);
    const metrics = await Promise.all(
      stack.instances('state').map((s) => scrapeMetrics(stack.httpPorts.get(s.name)!)),
    );
    const sum = (name: string, labels: Record<string, string> = {}) =>
      metrics.reduce((total, text) => total + metricSum(text, name, labels), 0);
    expect(
      sum('tl_turn_failures_total', { tl_kind: 'dependency', tl_dependency: 'redis', tl_reason: 'OOM' }),
    ).toBeGreaterThan(0);
    expect(sum('tl_turn_failures_total', { tl_kind: 'poison' })).toBe(0);
    expect(sum('tl_stalled_seconds_total')).toBeGreaterThan(FAULT_MS / 1000);
    expect(sum('tl_partitions_stalled')).toBe(0);
    const logs = stack
      .instances('state')
      .map((s) => s.output())
      .join('\n');
    expect(logs).toMatch(/"reason":"OOM".*"msg":"state: partition stalled on a dependency/);
    expect(logs).toMatch(/"dependency":"redis".*"msg":"state: partition resumed"/);
  });

  it('PostgreSQL read only for 6 s: the writer waits it out; nothing lost, nothing twice, nothing dead-lettered', async () => {
    const observed = await underLoad(42, 'pg-read-only', {
      watch: { app: 'writer', dependency: 'postgres' },
      async apply() {
        await stack.pool.query('ALTER SYSTEM SET default_transaction_read_only = on');
        await stack.pool.query('SELECT pg_reload_conf()');
      },
      async heal() {
        await stack.pool.query('ALTER SYSTEM RESET default_transaction_read_only');
        await stack.pool.query('SELECT pg_reload_conf()');
      },
    });
    expect(observed.maxStalled).toBeGreaterThan(0);
    expect(observed.notReady.some((b) => /stalled on postgres \(read_only\)/.test(b))).toBe(true);
    const logs = stack
      .instances('writer')
      .map((s) => s.output())
      .join('\n');
    expect(logs).toMatch(/"reason":"read_only".*"msg":"writer: partition stalled on a dependency/);
    expect(logs).toMatch(/"dependency":"postgres".*"msg":"writer: partition resumed"/);
  });

  it('poison mixed into good batches by a producer that bypasses ingest (and enrich): only the poison is dead-lettered, each event with its reason', async () => {
    const partition = 3;
    const events = new LedgerWorkload({ accounts: 3000, tenants: 5, seed: 43, idPrefix: 'mixed' }).take(
      40_000,
    );
    const own = events.filter((e) => partitionOf(e.accountId, stack.partitions) === partition);
    const [a, b, c, d] = own.slice(-4);
    const other = events.find((e) => partitionOf(e.accountId, stack.partitions) !== partition)!;
    const traffic = events.filter((e) => e !== a && e !== b && e !== c && e !== d);
    const hostile: Event[] = [
      a!,
      { ...b!, eventId: 'poison-amount', amountMinor: -5n },
      c!,
      { ...other, eventId: 'poison-partition' },
      { ...d!, eventId: 'poison-currency', currency: 'euro' },
    ];
    const deadBefore = await lastDeadLetter(stack);
    const load = sendPaced(stack.ingest, traffic, { perSecond: RATE });
    await waitFor(async () => (await ledgerCount(stack.pool)) >= acknowledged.length + 5_000, {
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    const subject = subjects.of('ingested', partition);
    await stack.bus.publish(subject, new TextEncoder().encode('not a protobuf batch \u0000\u00ff'), {
      msgId: 'hostile-garbage',
    });
    await stack.bus.publish(
      subject,
      EventBatch.encode({
        batchId: 'hostile',
        partition,
        acceptedAtMs: BigInt(Date.now()),
        events: hostile,
        redrivenFrom: [],
      }).finish(),
      { msgId: 'hostile-batch' },
    );
    // Past enrich too: an enriched batch of an account of another partition, and of an event that is not there.
    await stack.bus.publish(
      subjects.of('enriched', partition),
      EnrichedBatch.encode({
        batchId: 'hostile-enriched',
        partition,
        configVersion: 0n,
        producerEpoch: 0n,
        events: [
          enrichEvent({ ...other, eventId: 'poison-enriched' }, 1n << 16n, BigInt(Date.now()), undefined),
          { ...enrichEvent(a!, (1n << 16n) | 1n, BigInt(Date.now()), undefined), event: undefined },
        ],
      }).finish(),
      { msgId: 'hostile-enriched' },
    );
    await load.done;
    // The good events of the hostile batch were stored in the stream: they are as much a promise as the rest.
    acknowledged.push(...traffic.map((e) => e.eventId), a!.eventId, c!.eventId);
    await expectExactlyOnce(stack, acknowledged, { deadLettersAfter: false });
    const dead = await deadLettersAfter(stack, deadBefore);
    const reasons = dead.map((l) => l.reason).sort();
    expect(reasons).toHaveLength(6);
    expect(reasons[0]).toMatch(/^enrich: cannot decode message: /);
    expect(reasons.slice(1, 3)).toEqual([
      'enrich: event "poison-amount": events[1].amount_minor: must be positive, got -5',
      'enrich: event "poison-currency": events[4].currency: must be an ISO 4217 code (three capital letters), got "euro"',
    ]);
    expect(reasons[3]).toMatch(
      /^enrich: event "poison-partition": events\[3\]\.account_id: belongs to partition \d+, published to 3$/,
    );
    expect(reasons[4]).toMatch(
      /^state: event "poison-enriched": events\[0\]\.account_id: belongs to partition \d+, published to 3$/,
    );
    expect(reasons[5]).toBe('state: events[1].event: missing');
    expect(
      dead
        .filter((l) => l.part !== undefined)
        .map((l) => l.part)
        .sort(),
    ).toEqual([0, 1, 1, 3, 4]);
    report.push(
      `[e2e] poison: sent ${load.sent} through ingest and 3 messages around it (an ingested batch of 5 events, 3 of them poison; an enriched batch of 2 poison events; one undecodable message); ` +
        `committed ${acknowledged.length} in all, dead-lettered ${dead.length} (${dead.filter((l) => l.part !== undefined).length} single events)`,
    );
  });
});
