/**
 * Which processor each stage runs in each design, on the in-memory bus and state store: the product's own when
 * the lessons it needs are on, else the naive handler, whose claim raises the same fence.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus, type BusMessage } from '@throughline/bus';
import {
  EnrichedBatch,
  EventBatch,
  ResultBatch,
  type Event,
  type Result,
  type TenantConfig,
} from '@throughline/contracts';
import {
  applyEvent,
  EMPTY_ACCOUNT,
  enrichEvent,
  LedgerWorkload,
  type AccountState,
} from '@throughline/ledger';
import {
  ConfigSnapshot,
  createMemoryStateStore,
  isPipelineError,
  newStateCounters,
  newWriterCounters,
  StateStage,
  type CommitFence,
  type ResultSink,
} from '@throughline/pipeline';
import type { Envelope } from '@throughline/runtime';
import { DEMO_TENANTS } from '@throughline/stores';
import {
  enrichProcessorFor,
  InFlightLimit,
  parseLatencySpec,
  parsePipelineMode,
  stateProcessorFor,
  withAccountLatency,
  writerProcessorFor,
  type AccountTransactions,
} from '../src/index.js';

const OPTIMIZED = parsePipelineMode('optimized', '', 4);
const NAIVE = parsePipelineMode('naive', '', 4);
const LEASE = { partition: 0, epoch: 5 };
const NOW = 1_700_000_000_000;

async function memoryBus() {
  const bus = createMemoryBus();
  await bus.ensureTopology();
  onTestFinished(() => bus.close());
  return bus;
}

function envelope<T>(seq: number, value: T): Envelope<T> {
  return {
    value,
    msg: { seq, deliveryCount: 1, publishedAtMs: NOW, headers: new Map() } as unknown as BusMessage,
  };
}

/** Valid events on one account of the demo's first tenant, and that tenant's configuration. */
const events = (n: number): Event[] => new LedgerWorkload({ accounts: 1, tenants: 1, seed: 2 }).take(n);
const TENANT: TenantConfig = { ...DEMO_TENANTS[0]!, version: 1n, updatedAtMs: 0n };

/** Accounts in memory, each lock a transaction whose commit stores the new state. */
function memoryAccounts(): AccountTransactions & { states: Map<string, AccountState> } {
  const states = new Map<string, AccountState>();
  return {
    states,
    lock: (accountId) =>
      Promise.resolve({
        state: states.get(accountId),
        commit: (next) => Promise.resolve(void (next && states.set(accountId, next))),
        rollback: () => Promise.resolve(),
      }),
  };
}

/** A sink that records each commit (its fence and how many results) and each claim. */
function recordingSink() {
  const commits: [CommitFence, number][] = [];
  const claims: number[] = [];
  const sink: ResultSink = {
    claim: (_partition, epoch) => Promise.resolve(void claims.push(epoch)).then(() => ({ upstream: 0 })),
    commitBatch: (fence, results: Result[]) => {
      commits.push([fence, results.length]);
      return Promise.resolve({ inserted: results.length, duplicates: 0 });
    },
  };
  return { sink, commits, claims };
}

describe('stateProcessorFor', () => {
  it('runs StateStage when every lesson is on', async () => {
    const bus = await memoryBus();
    const store = createMemoryStateStore();
    const stage = { store, committed: {} as never, counters: newStateCounters() };
    const limit = new InFlightLimit(4);
    const processor = stateProcessorFor(
      { bus, mode: OPTIMIZED, limit, accounts: memoryAccounts(), stage },
      LEASE,
    );
    expect(processor).toBeInstanceOf(StateStage);
  });

  it('runs the naive handler otherwise: a transaction per event, results published one by one, the store claimed', async () => {
    const bus = await memoryBus();
    const store = createMemoryStateStore();
    await store.initMarker(0, null, NOW, 1);
    const accounts = memoryAccounts();
    const stage = { store, committed: {} as never, counters: newStateCounters() };
    const limit = new InFlightLimit(4);
    const processor = stateProcessorFor({ bus, mode: NAIVE, limit, accounts, stage }, LEASE);
    expect(processor).not.toBeInstanceOf(StateStage);

    await processor.claim!();
    await expect(store.claim(0, LEASE.epoch - 1)).rejects.toSatisfy(isPipelineError);
    const enriched = events(3).map((e, i) => enrichEvent(e, BigInt(i + 1), BigInt(NOW), TENANT));
    const batch: EnrichedBatch = {
      batchId: 'b',
      partition: 0,
      configVersion: 1n,
      events: enriched,
      producerEpoch: 1n,
    };
    const out = await bus.openMailbox({ group: 'writer', topic: 'applied', partition: 0 });
    await processor.handle([envelope(1, batch)], undefined as never);
    const published = await out.next({ maxMessages: 10, maxWaitMs: 50 });
    expect(published.map((m) => ResultBatch.decode(m.data).results.length)).toEqual([1, 1, 1]);
    // What the domain makes of the events applied in order.
    const expected = enriched.reduce((state, e) => applyEvent(state, e).state, EMPTY_ACCOUNT);
    expect(expected.position).toBe(3n);
    expect(accounts.states.get(enriched[0]!.event!.accountId)).toEqual(expected);
  });
});

describe('writerProcessorFor', () => {
  const results = (n: number): ResultBatch => ({
    batchId: 'r',
    partition: 0,
    producerEpoch: 1n,
    results: Array.from({ length: n }, (_, i) => ({ eventId: `e${i}`, accountId: `acc-${i}` }) as Result),
  });

  it('commits a turn at once with batching, and a statement per result without it, claiming that sink', async () => {
    const batched = recordingSink();
    const single = recordingSink();
    const options = { limit: new InFlightLimit(4), batched: batched.sink, sink: single.sink };
    const withBatching = writerProcessorFor(
      { ...options, mode: parsePipelineMode('naive', 'batching', 4), counters: newWriterCounters() },
      LEASE,
    );
    await withBatching.handle([envelope(1, results(3))], undefined as never);
    expect(batched.commits.map(([, n]) => n)).toEqual([3]);

    const counters = newWriterCounters();
    const naive = writerProcessorFor({ ...options, mode: NAIVE, counters }, LEASE);
    await naive.claim!();
    expect(single.claims).toEqual([LEASE.epoch]);
    await naive.handle([envelope(2, results(3))], undefined as never);
    expect(single.commits.map(([fence, n]) => [fence.epoch, n])).toEqual([
      [5, 1],
      [5, 1],
      [5, 1],
    ]);
    expect(counters.transactions).toBe(3);
  });
});

describe('enrichProcessorFor', () => {
  it('reads the pushed snapshot when every lesson is on, and asks the config service per event otherwise', async () => {
    const bus = await memoryBus();
    const asked: string[] = [];
    const options = {
      bus,
      partitionCount: 1,
      limit: new InFlightLimit(4),
      snapshot: () => new ConfigSnapshot([]),
      getConfig: (tenantId: string) => Promise.resolve(void asked.push(tenantId)),
    };
    const sent = events(2);
    const batch = (seq: number) =>
      envelope<EventBatch>(seq, {
        batchId: `b${seq}`,
        partition: 0,
        acceptedAtMs: BigInt(NOW),
        events: sent,
        redrivenFrom: [],
      });
    await enrichProcessorFor({ ...options, mode: OPTIMIZED }, LEASE).handle([batch(1)], undefined as never);
    expect(asked).toEqual([]);
    await enrichProcessorFor({ ...options, mode: NAIVE }, LEASE).handle([batch(2)], undefined as never);
    expect(asked).toEqual(sent.map((e) => e.tenantId));
  });
});

describe('withAccountLatency', () => {
  it('waits the modelled PostgreSQL round trip before a lock and before its commit', async () => {
    const accounts = memoryAccounts();
    const slow = withAccountLatency(accounts, parseLatencySpec('postgres=30ms'));
    const started = performance.now();
    const locked = await slow.lock('acc-1');
    const lockedAt = performance.now();
    await locked.commit({ ...EMPTY_ACCOUNT, balanceMinor: 7n });
    expect(lockedAt - started).toBeGreaterThanOrEqual(25);
    expect(performance.now() - lockedAt).toBeGreaterThanOrEqual(25);
    expect(accounts.states.get('acc-1')?.balanceMinor).toBe(7n);
  });
});
