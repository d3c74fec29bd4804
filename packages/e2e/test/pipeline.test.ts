import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Direction,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthClient,
  PublishStreamResponse,
  TenantConfig,
  subjects,
  type Event,
  partitionOf,
} from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { verifyLedger } from '@throughline/stores';
import { waitFor } from '@throughline/testkit';
import {
  balancesSnapshot,
  committedOf,
  ledgerCount,
  publishBatch,
  sendEvents,
  startStack,
  waitForCommitted,
  waitForIdle,
  type Stack,
} from './stack.js';
import { reflect } from './grpc-surface.js';
import { sendPaced } from './load.js';
import { expectRedisMatchesPostgres, stateDuplicates, writerDuplicateRows } from './exactly-once.js';

const EVENTS = 200_000;

const DUPLICATE_WINDOW_MS = 2000;

describe('the pipeline as five services over real NATS JetStream, Redis and PostgreSQL', () => {
  let stack: Stack;
  const workload = new LedgerWorkload({ accounts: 2000, tenants: 5, seed: 42 });
  const events = workload.take(EVENTS);

  beforeAll(async () => {
    stack = await startStack({
      partitions: 8,
      stateInstances: 2,
      writerInstances: 2,
      env: { BUS_DUPLICATE_WINDOW_MS: String(DUPLICATE_WINDOW_MS) },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('commits 200,000 events for 2,000 accounts exactly once, and verify finds no violation', async () => {
    const started = performance.now();
    // What an autoscaler reads: each stage's lag, from ingest, while the events are on their way.
    const lagUrl = `http://127.0.0.1:${stack.httpPorts.get('ingest')!}/lag`;
    const lag = async () => (await (await fetch(lagUrl)).json()) as Record<string, number>;
    let busiest = { enrich: 0, state: 0, writer: 0 };
    const watching = setInterval(() => {
      void lag().then((l) => {
        if (l.enrich! + l.state! + l.writer! > busiest.enrich + busiest.state + busiest.writer)
          busiest = l as typeof busiest;
      });
    }, 50);
    const sendRate = await sendEvents(stack.ingest, events, { batchSize: 1000, concurrency: 8 });
    await waitForCommitted(stack.pool, events);
    clearInterval(watching);
    expect(Object.keys(busiest)).toEqual(['enrich', 'state', 'writer']);
    expect(busiest.enrich + busiest.state + busiest.writer).toBeGreaterThan(0);
    await waitForIdle(stack);
    expect(await lag()).toEqual({ enrich: 0, state: 0, writer: 0 });
    const seconds = (performance.now() - started) / 1000;
    const rate = Math.round(EVENTS / seconds);
    process.stdout.write(
      `\n[e2e] ${EVENTS} events ingested at ${Math.round(sendRate)} events/s; committed end to end in ${seconds.toFixed(1)} s = ${rate} events/s ` +
        `(2 cores shared by 7 services, nats-server, redis-server, PostgreSQL and the load)\n`,
    );
    const report = await verifyLedger(stack.pool, { expectedEventIds: events.map((e) => e.eventId) });
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
    expect(await committedOf(stack.pool, events)).toBe(EVENTS);
  });

  it('a client retry of all 200,000 events past the duplicate window changes nothing', async () => {
    // Run alone, it first commits them itself (the test above has, otherwise).
    if ((await committedOf(stack.pool, events)) < EVENTS) {
      await sendEvents(stack.ingest, events, { batchSize: 1000, concurrency: 8 });
      await waitForCommitted(stack.pool, events);
    }
    await waitForIdle(stack);
    const rowsBefore = await ledgerCount(stack.pool);
    const before = await balancesSnapshot(stack.pool);
    const duplicatesBefore = await stateDuplicates(stack);
    // Past JetStream's duplicate window (a time, with no API to ask): the retry must reach the state stage.
    await new Promise((r) => setTimeout(r, DUPLICATE_WINDOW_MS + 1000));
    await sendEvents(stack.ingest, events, { batchSize: 1000, concurrency: 8 });
    await waitForIdle(stack);
    // Recognised by the state stage, every one (not dropped by the bus's de-duplication on the way).
    expect((await stateDuplicates(stack)) - duplicatesBefore).toBeGreaterThanOrEqual(EVENTS);
    expect(await ledgerCount(stack.pool)).toBe(rowsBefore);
    expect(await balancesSnapshot(stack.pool)).toEqual(before);
    const report = await verifyLedger(stack.pool, { expectedEventIds: events.map((e) => e.eventId) });
    expect(report.ok).toBe(true);
  });

  it('an event_id reused on accounts of two partitions, both in flight at once, is applied once: balances match the ledger', async () => {
    const REUSED = 20_000;
    const originals = new LedgerWorkload({ accounts: 2000, tenants: 5, seed: 43, idPrefix: 'reused' }).take(
      REUSED,
    );
    // The same ids on other accounts, each of another partition than its original, sent at the same time: neither
    // occurrence is committed when the other reaches the state stage, so only the claims can tell them apart.
    const twins = originals.map((e, i): Event => {
      let accountId = `twin-${i % 500}`;
      for (let k = 0; partitionOf(accountId, 8) === partitionOf(e.accountId, 8); k++)
        accountId = `twin-${i % 500}-${k}`;
      return { ...e, accountId, amountMinor: e.amountMinor + 1n };
    });
    const rowsBefore = await ledgerCount(stack.pool);
    const duplicatesBefore = await stateDuplicates(stack);
    await Promise.all([
      sendEvents(stack.ingest, originals, { batchSize: 500, concurrency: 4 }),
      sendEvents(stack.ingest, twins, { batchSize: 500, concurrency: 4 }),
    ]);
    await waitForCommitted(stack.pool, originals);
    await waitForIdle(stack);
    // One row per id, for one of its two accounts; the other occurrence was recognised by the state stage.
    expect((await ledgerCount(stack.pool)) - rowsBefore).toBe(REUSED);
    const { rows } = await stack.pool.query<{ twins: string }>(
      "SELECT count(*) FILTER (WHERE account_id LIKE 'twin-%') AS twins FROM ledger WHERE event_id LIKE 'reused%'",
    );
    process.stdout.write(
      `\n[e2e] ${REUSED} event ids sent twice at once on accounts of two partitions: ${REUSED} ledger rows, ` +
        `${rows[0]!.twins} of them for the second account (whichever claimed the id first)\n`,
    );
    // Without the claims, an account whose occurrence lost the ledger row would still have moved its balance.
    const report = await verifyLedger(stack.pool, { expectedEventIds: originals.map((e) => e.eventId) });
    expect(report.violations.slice(0, 3)).toEqual([]);
    await expectRedisMatchesPostgres(stack);
    expect((await stateDuplicates(stack)) - duplicatesBefore).toBeGreaterThanOrEqual(REUSED);
  });

  describe('bad input gets INVALID_ARGUMENT naming the event and field, and nothing of the batch is published', () => {
    let refused = 0;
    const valid = (i: number): Event => ({
      ...events[0]!,
      eventId: `bad-input-${refused}-${i}`,
      accountId: `bad-acc-${i}`,
    });
    const cases: [string, (e: Event) => Event, RegExp][] = [
      ['a missing field', (e) => ({ ...e, accountId: '' }), /events\[3\]\.account_id: is required/],
      [
        'a negative amount',
        (e) => ({ ...e, amountMinor: -5n }),
        /events\[3\]\.amount_minor: must be positive/,
      ],
      [
        'an unknown currency',
        (e) => ({ ...e, currency: 'euro' }),
        /events\[3\]\.currency: must be an ISO 4217 code/,
      ],
      [
        'an oversize attribute map',
        (e) => ({
          ...e,
          attributes: Object.fromEntries(Array.from({ length: 40 }, (_, k) => [`k${k}`, 'v'])),
        }),
        /events\[3\]\.attributes: has 40 entries, at most 16 allowed/,
      ],
    ];
    it.each(cases)('%s', async (_name, corrupt, message) => {
      refused += 1;
      const batch = Array.from({ length: 6 }, (_, i) => valid(i));
      batch[3] = corrupt(batch[3]!);
      const err = (await publishBatch(stack.ingest, batch).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(message);
      expect(err.metadata.get('tl-violation-index')).toEqual(['3']);
      await expectNothingOf(batch);
    });

    /**
     * Nothing of a refused batch reaches the ledger, not even its valid events: checked after a valid event sent
     * after it, to every partition the batch would have used, was committed (so the pipeline had time to carry it).
     */
    async function expectNothingOf(batch: Event[]): Promise<void> {
      const after = batch.map((e, i) => ({ ...e, eventId: `${e.eventId}-after`, accountId: `bad-acc-${i}` }));
      after[3] = { ...valid(3), eventId: `${batch[3]!.eventId}-after` };
      await publishBatch(stack.ingest, after);
      await waitForCommitted(stack.pool, after, 30_000);
      expect(await committedOf(stack.pool, batch)).toBe(0);
    }

    it('an oversize batch', async () => {
      refused += 1;
      const batch = Array.from({ length: 10_001 }, (_, i) => valid(i));
      const err = (await publishBatch(stack.ingest, batch).catch((e: unknown) => e)) as grpc.ServiceError;
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(/events: holds 10001 events, at most 10000 allowed/);
      await expectNothingOf(batch.slice(0, 6));
      expect(await committedOf(stack.pool, batch)).toBe(0);
    });
  });

  it('a configuration change reaches enrich without a restart, and later events carry the new version', async () => {
    const enrichPid = stack.services.get('enrich')!.pid;
    const current = await new Promise<TenantConfig>((resolve, reject) =>
      stack.config.get({ tenantId: 'tenant-1' }, (err, res) => (err ? reject(err) : resolve(res))),
    );
    const updated = await new Promise<TenantConfig>((resolve, reject) =>
      stack.config.put({ config: { ...current, feeBps: current.feeBps + 7 } }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
    expect(updated.version).toBeGreaterThan(current.version);
    let attempt = 0;
    await waitFor(
      async () => {
        const e: Event = {
          ...events[0]!,
          eventId: `config-change-${attempt++}`,
          accountId: 'acc-0',
          tenantId: 'tenant-1',
        };
        await publishBatch(stack.ingest, [e]);
        await waitFor(
          async () =>
            (await stack.pool.query('SELECT 1 FROM ledger WHERE event_id = $1', [e.eventId])).rowCount === 1,
          {
            timeoutMs: 30_000,
          },
        );
        const { rows } = await stack.pool.query(
          'SELECT config_version::text AS v FROM ledger WHERE event_id = $1',
          [e.eventId],
        );
        return rows[0].v === String(updated.version);
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 'enrich never used the new configuration version' },
    );
    expect(stack.services.get('enrich')!.pid).toBe(enrichPid);
  });

  it('a poison message goes to the dead-letter stream with its reason, and its partition keeps flowing', async () => {
    const partition = 3;
    await stack.bus.publish(
      subjects.of('ingested', partition),
      new TextEncoder().encode('not a protobuf batch \u0000\u00ff'),
      {
        msgId: 'poison-ingested-1',
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      },
    );
    await stack.bus.publish(subjects.of('applied', partition), Uint8Array.from([0x0a, 0xff, 0xff, 0xff]), {
      msgId: 'poison-applied-1',
    });
    const accounts = Array.from({ length: 200 }, (_, i) => `poison-acc-${i}`).filter(
      (a) => partitionOf(a, stack.partitions) === partition,
    );
    const after: Event[] = accounts.map((accountId, i) => ({
      ...events[0]!,
      eventId: `after-poison-${i}`,
      accountId,
      tenantId: 'tenant-2',
      direction: Direction.DIRECTION_CREDIT,
    }));
    await publishBatch(stack.ingest, after);
    await waitFor(
      async () => {
        const { rows } = await stack.pool.query(
          "SELECT count(*)::int AS n FROM ledger WHERE event_id LIKE 'after-poison-%'",
        );
        return rows[0].n === after.length;
      },
      { timeoutMs: 60_000, message: 'events after the poison message were not committed' },
    );
    const dead = await waitFor(
      async () => {
        const letters = await stack.bus.readDeadLetters();
        return letters.length >= 2 ? letters : undefined;
      },
      { timeoutMs: 30_000, message: 'the poison messages did not reach the dead-letter stream' },
    );
    const ingested = dead.find((d) => d.originalSubject === subjects.of('ingested', partition))!;
    expect(ingested.reason).toMatch(/enrich: cannot decode/);
    expect(new TextDecoder().decode(ingested.data)).toContain('not a protobuf batch');
    expect(ingested.headers.get('traceparent')).toBe(
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    );
    const applied = dead.find((d) => d.originalSubject === subjects.of('applied', partition))!;
    expect(applied.reason).toMatch(/writer: cannot decode/);
    const report = await verifyLedger(stack.pool);
    expect(report.violations).toEqual([]);
  });
});

describe('the gRPC surface of ingest and config, as generic clients see it', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ partitions: 4, stateInstances: 1, writerInstances: 1 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('answers the standard health check and lists its services through server reflection', async () => {
    for (const [address, service] of [
      [stack.ingestAddress, 'throughline.v1.IngestService'],
      [stack.configAddress, 'throughline.v1.ConfigService'],
    ] as const) {
      const health = new HealthClient(address, grpc.credentials.createInsecure());
      const res = await new Promise<HealthCheckResponse>((resolve, reject) =>
        health.check({ service }, (err, r) => (err ? reject(err) : resolve(r))),
      );
      health.close();
      expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      const listed = await reflect(address, { list_services: '' });
      expect(listed.list_services_response?.service.map((s) => s.name)).toEqual(
        expect.arrayContaining([service, 'grpc.health.v1.Health']),
      );
      const file = await reflect(address, { file_containing_symbol: service });
      expect(file.file_descriptor_response?.file_descriptor_proto.length).toBeGreaterThan(0);
    }
  });

  it('reports liveness and readiness over HTTP for every service', async () => {
    // One instance of each stage: each is named after its stage.
    expect([...stack.httpPorts.keys()].sort()).toEqual(['config', 'enrich', 'ingest', 'state', 'writer']);
    for (const port of stack.httpPorts.values()) {
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    }
  });

  it('accepts a client stream of batches and answers with the total once all are durable', async () => {
    const events = new LedgerWorkload({ accounts: 100, seed: 11, idPrefix: 'stream' }).take(5000);
    const res = await new Promise<PublishStreamResponse>((resolve, reject) => {
      const call = stack.ingest.publishStream((err, r) => (err ? reject(err) : resolve(r)));
      for (let i = 0; i < events.length; i += 500) call.write({ events: events.slice(i, i + 500) });
      call.end();
    });
    expect(res).toEqual({ accepted: 5000n, batches: 10n });
    await waitForCommitted(stack.pool, events);
  });

  it('refuses a bad streamed batch naming the message, event and field', async () => {
    const good = new LedgerWorkload({ accounts: 10, seed: 12, idPrefix: 'stream-bad' }).take(20);
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const call = stack.ingest.publishStream((e) => resolve(e!));
      call.write({ events: good.slice(0, 10) });
      call.write({ events: [...good.slice(10, 12), { ...good[12]!, tenantId: '' }] });
      call.end();
    });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    // The count covers message 0 even though its publish may still have been in flight when message 1 arrived.
    expect(err.details).toBe(
      'message 1: events[2].tenant_id: is required (10 events of earlier messages were accepted)',
    );
  });

  it('drains on SIGTERM: the writer finishes its turn, acks and exits 0; nothing is lost', async () => {
    const events = new LedgerWorkload({ accounts: 200, seed: 13, idPrefix: 'drain' }).take(20_000);
    const ids = events.map((e) => e.eventId);
    const committed = async (): Promise<number> =>
      (
        await stack.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM ledger WHERE event_id = ANY($1)',
          [ids],
        )
      ).rows[0]!.n;
    const load = sendPaced(stack.ingest, events, { perSecond: 20_000, batchSize: 500, concurrency: 4 });
    // Should an assertion below fail, the load stops with the stack: its rejection is not a second failure.
    load.done.catch(() => undefined);
    await waitFor(async () => (await committed()) > 2000, { timeoutMs: 60_000, intervalMs: 50 });
    const writer = stack.services.get('writer')!;
    const committedAtStop = await committed();
    const acknowledgedAtStop = load.acknowledged;
    const exit = await writer.kill('SIGTERM');
    expect(exit.code).toBe(0);
    expect(writer.output()).toMatch(/drained; exiting/);
    // The stop landed with work in flight: events acknowledged to the client and not committed when it was sent.
    // (Counted before the signal: the drain may well commit all of them before the writer exits.)
    expect(acknowledgedAtStop).toBeGreaterThan(committedAtStop);
    await writer.restart();
    await load.done;
    await waitForCommitted(stack.pool, events, 60_000);
    await waitForIdle(stack);
    // It acknowledged every batch it committed before exiting: the restarted writer was given none of them again.
    expect(await writerDuplicateRows(stack)).toBe(0);
    const report = await verifyLedger(stack.pool, { expectedEventIds: ids });
    expect(report.violations).toEqual([]);
  });
});
