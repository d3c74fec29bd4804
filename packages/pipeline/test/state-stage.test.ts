/**
 * The state stage on the in-memory bus and state store, with a ledger in memory: de-duplication (within the store's
 * horizon, then against the ledger: an earlier attempt of the same turn that was committed must be applied again,
 * another occurrence of an event id must not move a balance), lease epochs (a newer owner fences an older one, an
 * older enrich epoch's batches are dropped) and recovery (a lost or rolled-back store rebuilt from the ledger once
 * the writer committed everything published).
 */
import { describe, expect, it } from 'vitest';
import type { BusMessage } from '@throughline/bus';
import {
  Direction,
  EnrichedBatch,
  partitionOf,
  ResultBatch,
  type Event,
  type Result,
  type TenantConfig,
} from '@throughline/contracts';
import { EMPTY_ACCOUNT, enrichEvent, type AccountState } from '@throughline/ledger';
import { TurnClock, type Envelope, type TurnScope } from '@throughline/runtime';
import {
  createMemoryStateStore,
  PipelineErrorCode,
  StateStage,
  type CommittedEvent,
  type CommittedState,
  type StateStore,
} from '../src/index.js';
import { memoryBus } from './support.js';

const PARTITION = 0;
const EPOCH = 7;
const NOW = 1_700_000_000_000;
const TENANT: TenantConfig = {
  tenantId: 't1',
  version: 1n,
  enabled: true,
  baseCurrency: 'EUR',
  feeBps: 0,
  fxRatesE9: { EUR: 1_000_000_000n },
  dailyDebitLimitMinor: 1_000_000_000n,
  overdraftLimitMinor: 1_000_000_000n,
  updatedAtMs: 0n,
};

function credit(eventId: string, accountId: string, amountMinor: bigint): Event {
  return {
    eventId,
    tenantId: 't1',
    accountId,
    direction: Direction.DIRECTION_CREDIT,
    amountMinor,
    currency: 'EUR',
    occurredAtMs: BigInt(NOW),
    attributes: {},
  };
}

/** One enriched message at stream sequence `seq`, as the state stage's actor hands it over. */
function envelope(seq: number, events: Event[], producerEpoch = 1): Envelope<EnrichedBatch> {
  const value: EnrichedBatch = {
    batchId: `b${seq}`,
    partition: PARTITION,
    configVersion: 1n,
    producerEpoch: BigInt(producerEpoch),
    events: events.map((e, i) => enrichEvent(e, (BigInt(seq) << 16n) | BigInt(i), BigInt(NOW), TENANT)),
  };
  return { value, msg: { seq, deliveryCount: 1, publishedAtMs: NOW } as BusMessage };
}

/** The ledger as the writer leaves it: the first result of each event id wins (ON CONFLICT DO NOTHING). */
class Ledger implements CommittedState {
  readonly rows = new Map<string, Result>();
  /** The event ids the stage asked about, in order. */
  readonly asked: string[] = [];
  /** Account states as PostgreSQL would rebuild them (balances of committed rows). */
  readonly accounts = new Map<string, AccountState>();
  commit(results: readonly Result[]): void {
    for (const r of results) {
      if (this.rows.has(r.eventId)) continue;
      this.rows.set(r.eventId, r);
      // Balance rows move forward by position (credits only here: no daily debits to keep).
      const before = this.accounts.get(r.accountId);
      if (before === undefined || before.position < r.position)
        this.accounts.set(r.accountId, {
          ...EMPTY_ACCOUNT,
          balanceMinor: r.balanceAfterMinor,
          position: r.position,
        });
    }
  }
  loadAccounts(ids: string[]): Promise<Map<string, AccountState>> {
    const found = new Map<string, AccountState>();
    for (const id of ids) {
      const state = this.accounts.get(id);
      if (state !== undefined) found.set(id, state);
    }
    return Promise.resolve(found);
  }
  committedEvents(ids: string[]): Promise<Map<string, CommittedEvent>> {
    this.asked.push(...ids);
    const found = new Map<string, CommittedEvent>();
    for (const id of ids) {
      const r = this.rows.get(id);
      if (r !== undefined) found.set(id, { accountId: r.accountId, position: r.position });
    }
    return Promise.resolve(found);
  }
  hasCommittedRows(): Promise<boolean> {
    return Promise.resolve(this.rows.size > 0);
  }
  committedHighWater(): Promise<bigint> {
    let highWater = 0n;
    for (const r of this.rows.values()) if (r.position > highWater) highWater = r.position;
    return Promise.resolve(highWater);
  }
}

/** A memory store whose writes are refused as Redis refuses them when out of memory, while `refuse` is set. */
function refusingStore() {
  const store = createMemoryStateStore();
  const refusing: StateStore & { refuse: boolean } = {
    refuse: false,
    read: (...a) => store.read(...a),
    claim: (...a) => store.claim(...a),
    initMarker: (...a) => store.initMarker(...a),
    reset: (...a) => store.reset(...a),
    write: (...a) => {
      if (refusing.refuse)
        return Promise.reject(new Error('OOM command not allowed when used memory > maxmemory'));
      return store.write(...a);
    },
  };
  return { store, refusing };
}

describe('state stage', () => {
  async function setup(store: StateStore, now: () => number = () => NOW, opts: { marker?: boolean } = {}) {
    const bus = await memoryBus();
    if (opts.marker ?? true) await store.initMarker(PARTITION, null, NOW, EPOCH);
    const ledger = new Ledger();
    const stage = new StateStage({ bus, partition: PARTITION, epoch: EPOCH, store, committed: ledger, now });
    const owner = (epoch: number) =>
      new StateStage({ bus, partition: PARTITION, epoch, store, committed: ledger, now });
    const out = await bus.openMailbox({ group: 'writer', topic: 'applied', partition: PARTITION });
    /** The result batches published since the last call, taken as the writer takes them. */
    const batches = async (): Promise<ResultBatch[]> => {
      const msgs = await out.next({ maxMessages: 100, maxWaitMs: 50 });
      for (const m of msgs) await m.ack();
      return msgs.map((m) => ResultBatch.decode(m.data));
    };
    /** The results published since the last call. */
    const published = async (): Promise<Result[]> => (await batches()).flatMap((b) => b.results);
    return { stage, ledger, batches, published, owner };
  }

  it('counts every account look-up: new accounts, then memory hits', async () => {
    const { stage } = await setup(createMemoryStateStore());
    await stage.handle([
      envelope(1, [credit('n1', 'acc-a', 10n), credit('n2', 'acc-b', 10n), credit('n3', 'acc-a', 5n)]),
    ]);
    expect(stage.counters).toMatchObject({
      newAccounts: 2,
      memoryHits: 0,
      storeHits: 0,
      rebuiltFromDatabase: 0,
    });
    await stage.handle([envelope(2, [credit('n4', 'acc-a', 1n)])]);
    expect(stage.counters).toMatchObject({ newAccounts: 2, memoryHits: 1 });
  });

  it('dead-letters alone each event no turn could apply (no event, a foreign account, invalid), and applies the rest', async () => {
    const bus = await memoryBus();
    const store = createMemoryStateStore();
    await store.initMarker(PARTITION, null, NOW, EPOCH);
    const stage = new StateStage({
      bus,
      partition: PARTITION,
      epoch: EPOCH,
      store,
      committed: new Ledger(),
      now: () => NOW,
      partitionCount: 4,
    });
    const ofPartition = (p: number) =>
      Array.from({ length: 100 }, (_, i) => `acc-${i}`).find((id) => partitionOf(id, 4) === p)!;
    const [mine, foreign] = [ofPartition(PARTITION), ofPartition(3)];
    const first = envelope(1, [
      credit('ok-1', mine, 10n),
      credit('foreign', foreign, 10n),
      credit('ok-2', mine, 5n),
    ]);
    const second = envelope(2, [
      credit('ok-3', mine, 1n),
      credit('no-event', mine, 1n),
      credit('zero', mine, 0n),
    ]);
    second.value.events[1] = { ...second.value.events[1]!, event: undefined };
    const dead: { seq: number; reason: string; index: number; ids: string[] }[] = [];
    const scope: TurnScope = {
      outgoingHeaders: undefined,
      dependency: (_d, work) => work(),
      end: () => undefined,
    };
    const ctx = new TurnClock(PARTITION, scope, (msg, reason, part) => {
      const ids = EnrichedBatch.decode(part.data).events.map((e) => e.event?.eventId ?? '');
      dead.push({ seq: msg.seq, reason, index: part.index, ids });
      return Promise.resolve();
    });
    const out = await bus.openMailbox({ group: 'writer', topic: 'applied', partition: PARTITION });
    await stage.handle([first, second], ctx);
    const results = (await out.next({ maxMessages: 10, maxWaitMs: 50 })).flatMap(
      (m) => ResultBatch.decode(m.data).results,
    );
    expect(results.map((r) => [r.eventId, r.balanceAfterMinor])).toEqual([
      ['ok-1', 10n],
      ['ok-2', 15n],
      ['ok-3', 16n],
    ]);
    expect(dead).toEqual([
      {
        seq: 1,
        index: 1,
        ids: ['foreign'],
        reason: `state: event "foreign": events[1].account_id: belongs to partition 3, published to 0`,
      },
      { seq: 2, index: 1, ids: [''], reason: 'state: events[1].event: missing' },
      {
        seq: 2,
        index: 2,
        ids: ['zero'],
        reason: expect.stringMatching(/^state: event "zero": events\[2\]\.amount_minor: /),
      },
    ]);
    expect(stage.counters).toMatchObject({ applied: 3, deadLettered: 3 });
    // Without a turn context (a direct call), such an event fails the turn as poison.
    await expect(stage.handle([envelope(3, [credit('foreign-2', foreign, 1n)])])).rejects.toMatchObject({
      code: PipelineErrorCode.poison,
    });
  });

  it('applies a turn again whose results were committed but whose store write failed', async () => {
    const { store, refusing } = refusingStore();
    const { stage, ledger, published } = await setup(refusing);
    // acc-1 is in the store (a hit, not rebuilt from PostgreSQL) at an older position when the write fails.
    await stage.handle([envelope(1, [credit('e0', 'acc-1', 10n)])]);
    ledger.commit(await published());
    refusing.refuse = true;
    const turn = [envelope(2, [credit('e1', 'acc-1', 100n), credit('e2', 'acc-1', 50n)])];

    await expect(stage.handle(turn)).rejects.toThrow(/OOM/);
    const first = await published();
    expect(first.map((r) => [r.eventId, r.balanceAfterMinor])).toEqual([
      ['e1', 110n],
      ['e2', 160n],
    ]);
    ledger.commit(first);

    refusing.refuse = false;
    await stage.handle(turn);
    // Applied again, to the same results: their publish carries the same message ids, so the bus keeps the first
    // (as JetStream does within its duplicate window, and the writer keeps the first ledger rows after it).
    expect(stage.counters.applied).toBe(5);
    expect(stage.counters.duplicates).toBe(0);
    expect(await published()).toEqual([]);
    // Their ids stay claimed for their positions: another occurrence of either is refused.
    const others = [
      { eventId: 'e1', position: 99n },
      { eventId: 'e2', position: 98n },
    ];
    const read = await store.read(PARTITION, ['acc-1'], others, NOW);
    expect(read.accounts.get('acc-1')?.balanceMinor).toBe(160n);
    expect(read.taken).toEqual(new Set([99n, 98n]));

    // The next event builds on that balance.
    await stage.handle([envelope(3, [credit('e3', 'acc-1', 1n)])]);
    expect((await published()).map((r) => r.balanceAfterMinor)).toEqual([161n]);
  });

  it('knows a retry within the horizon from the store alone; past it, moves no balance for an id the ledger holds', async () => {
    let clock = NOW;
    const { stage, ledger, published } = await setup(
      createMemoryStateStore({ dedupHorizonMs: 1_000 }),
      () => clock,
    );
    await stage.handle([envelope(1, [credit('e1', 'acc-1', 100n)])]);
    const applied = await published();
    // Retried by its client before the writer committed it: only the store knows e1, and the ledger is not asked.
    await stage.handle([envelope(2, [credit('e1', 'acc-1', 100n)])]);
    expect(stage.counters.duplicates).toBe(1);
    expect(ledger.asked).toEqual(['e1']);
    ledger.commit(applied);

    // Past the store's horizon it no longer remembers e1; the ledger does.
    clock += 10_000;
    await stage.handle([
      envelope(5, [
        credit('e1', 'acc-2', 70n), // reused on another account
        credit('e1', 'acc-1', 100n), // the same event retried by its client, at a new position
        credit('e4', 'acc-2', 5n),
      ]),
    ]);
    expect((await published()).map((r) => [r.eventId, r.accountId, r.balanceAfterMinor])).toEqual([
      ['e4', 'acc-2', 5n],
    ]);
    expect(stage.counters.duplicates).toBe(3);
    // The second e1 of the turn found the id claimed by the first; the first found it in the ledger.
    expect(ledger.asked).toEqual(['e1', 'e1', 'e4']);
  });

  it('applies an event id reused on accounts of two partitions at the same time once, whichever claims it first', async () => {
    const store = createMemoryStateStore();
    const { stage, ledger, published } = await setup(store);
    // Another partition's stage on the same store (Redis is shared by every partition) and the same ledger.
    const bus = await memoryBus();
    await store.initMarker(1, null, NOW, EPOCH);
    const other = new StateStage({
      bus,
      partition: 1,
      epoch: EPOCH,
      store,
      committed: ledger,
      now: () => NOW,
    });
    const otherOut = await bus.openMailbox({ group: 'writer', topic: 'applied', partition: 1 });
    const otherResults = async () => {
      const msgs = await otherOut.next({ maxMessages: 100, maxWaitMs: 50 });
      for (const m of msgs) await m.ack();
      return msgs.flatMap((m) => ResultBatch.decode(m.data).results);
    };
    const inPartition1 = (seq: number, events: Event[]): Envelope<EnrichedBatch> => {
      const e = envelope(seq, events);
      return { ...e, value: { ...e.value, partition: 1 } };
    };

    // Both occurrences are in flight: neither is committed, so the ledger cannot tell; the claims can.
    await stage.handle([envelope(1, [credit('x1', 'acc-1', 100n), credit('x2', 'acc-1', 1n)])]);
    await other.handle([inPartition1(2, [credit('x1', 'acc-9', 70n), credit('y1', 'acc-9', 5n)])]);
    const first = await published();
    const second = await otherResults();
    expect(first.map((r) => r.eventId)).toEqual(['x1', 'x2']);
    expect(second.map((r) => [r.eventId, r.balanceAfterMinor])).toEqual([['y1', 5n]]);
    expect(other.counters.duplicates).toBe(1);
    // The ledger and the balances agree: acc-9 moved only for the row it has.
    ledger.commit([...first, ...second]);
    expect(ledger.rows.get('x1')?.accountId).toBe('acc-1');
    expect(ledger.accounts.get('acc-9')?.balanceMinor).toBe(5n);

    // Replayed (a redelivery, a new owner): each occurrence decides the same again.
    await other.handle([inPartition1(2, [credit('x1', 'acc-9', 70n), credit('y1', 'acc-9', 5n)])]);
    expect(await otherResults()).toEqual([]);
    expect(other.counters.applied).toBe(1);
  });

  it('applies an event the state stage dead-lettered once redriven, to its new position, and only once', async () => {
    const store = createMemoryStateStore();
    const { stage, published } = await setup(store);
    // A turn that failed as poison claimed its ids before it failed (and was dead-lettered, so never applied).
    await store.read(PARTITION, [], [{ eventId: 'd1', position: (4n << 16n) | 0n }], NOW);
    const redriven = (seq: number, from: bigint) => {
      const e = envelope(seq, [credit('d1', 'acc-1', 40n)]);
      e.value.events[0]!.redrivenFrom = from;
      return e;
    };
    // Without the position it had, a new occurrence of d1 would be taken for another event and skipped.
    await stage.handle([envelope(8, [credit('d1', 'acc-1', 40n)])]);
    expect(await published()).toEqual([]);
    await stage.handle([redriven(9, (4n << 16n) | 0n)]);
    expect((await published()).map((r) => [r.eventId, r.position])).toEqual([['d1', (9n << 16n) | 0n]]);
    // The same redrive again (a second copy) finds the claim moved on.
    await stage.handle([redriven(10, (4n << 16n) | 0n)]);
    expect(await published()).toEqual([]);
    expect(stage.counters.applied).toBe(1);
  });

  it('writes an account rebuilt from the ledger back to the store when all its events were duplicates', async () => {
    const store = createMemoryStateStore();
    const { stage, ledger, published } = await setup(store);
    // The store lost acc-1 (Redis refused or was emptied); the ledger holds it at a later position.
    const position = (9n << 16n) | 0n;
    ledger.accounts.set('acc-1', { ...EMPTY_ACCOUNT, balanceMinor: 100n, position });

    await stage.handle([envelope(3, [credit('e1', 'acc-1', 100n)])]);
    expect(await published()).toEqual([]);
    expect(stage.counters.duplicates).toBe(1);
    const read = await store.read(PARTITION, ['acc-1'], [], NOW);
    expect(read.accounts.get('acc-1')?.balanceMinor).toBe(100n);
    expect(read.accounts.get('acc-1')?.position).toBe(position);
  });

  it('writes an account rebuilt from the ledger once its refused write is retried, though its events were duplicates', async () => {
    const { store, refusing } = refusingStore();
    const { stage, ledger, published } = await setup(refusing);
    refusing.refuse = true;
    const position = (9n << 16n) | 0n;
    ledger.accounts.set('acc-1', { ...EMPTY_ACCOUNT, balanceMinor: 100n, position });
    const turn = [envelope(3, [credit('e1', 'acc-1', 100n)])];

    await expect(stage.handle(turn)).rejects.toThrow(/OOM/);
    refusing.refuse = false;
    await stage.handle(turn);
    expect(await published()).toEqual([]);
    const read = await store.read(PARTITION, ['acc-1'], [], NOW);
    expect(read.accounts.get('acc-1')?.balanceMinor).toBe(100n);
  });

  /**
   * Two turns applied, then the store rolled back to before the second: as Redis replaying an older file. The
   * second turn's results are committed too, unless `commitSecond` is false (they still wait for the writer).
   */
  async function rolledBackAfterTwoTurns({ commitSecond = true } = {}) {
    const store = createMemoryStateStore();
    const env = await setup(store);
    await env.stage.handle([envelope(1, [credit('e1', 'acc-1', 100n)])]);
    env.ledger.commit(await env.published());
    const restore = store.snapshot(PARTITION);
    await env.stage.handle([envelope(2, [credit('e2', 'acc-1', 50n)])]);
    if (commitSecond) env.ledger.commit(await env.published());
    restore();
    expect((await store.read(PARTITION, ['acc-1'], [], NOW)).accounts.get('acc-1')?.balanceMinor).toBe(100n);
    return { store, ...env };
  }

  it('rebuilds a partition whose store rolled back under its owner, never applying on the older state', async () => {
    const { stage, published } = await rolledBackAfterTwoTurns();
    await stage.handle([envelope(3, [credit('e3', 'acc-1', 1n)])]);
    expect((await published()).map((r) => r.balanceAfterMinor)).toEqual([151n]);
    expect(stage.counters.rollbacks).toBe(1);
    expect(stage.counters.recoveries).toBe(1);
  });

  it('rebuilds a partition whose store rolled back before a new owner took it over', async () => {
    const { owner, published } = await rolledBackAfterTwoTurns();
    const next = owner(EPOCH + 1);
    await next.claim();
    await next.handle([envelope(3, [credit('e3', 'acc-1', 1n)])]);
    expect((await published()).map((r) => r.balanceAfterMinor)).toEqual([151n]);
    expect(next.counters.rollbacks).toBe(1);
    expect(next.counters.recoveries).toBe(1);
  });

  it('takes over only once the writer committed what the partition published, then compares', async () => {
    const { owner, ledger, published } = await rolledBackAfterTwoTurns({ commitSecond: false });
    const next = owner(EPOCH + 1);
    await next.claim();
    let done = false;
    const taking = next.handle([envelope(3, [credit('e3', 'acc-1', 1n)])]).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false);
    ledger.commit(await published());
    await taking;
    expect((await published()).map((r) => r.balanceAfterMinor)).toEqual([151n]);
    expect(next.counters.rollbacks).toBe(1);
  });

  it('starts a rebuilt marker at the committed high-water: the next owner does not take it for a rollback', async () => {
    const { owner, published } = await rolledBackAfterTwoTurns();
    const rebuilt = owner(EPOCH + 1);
    await rebuilt.claim();
    // Only a duplicate: nothing published, the marker's high-water is the one the rebuild set.
    await rebuilt.handle([envelope(2, [credit('e2', 'acc-1', 50n)])]);
    expect(rebuilt.counters.rollbacks).toBe(1);
    expect(await published()).toEqual([]);
    const third = owner(EPOCH + 2);
    await third.claim();
    await third.handle([envelope(3, [credit('e3', 'acc-1', 1n)])]);
    expect((await published()).map((r) => r.balanceAfterMinor)).toEqual([151n]);
    expect(third.counters.rollbacks).toBe(0);
    expect(third.counters.recoveries).toBe(0);
  });

  it('trusts a store that is only ahead of PostgreSQL (the writer has not committed yet)', async () => {
    const store = createMemoryStateStore();
    const { stage, owner, published } = await setup(store);
    await stage.handle([envelope(1, [credit('e1', 'acc-1', 100n)])]);
    await published(); // consumed, not committed: PostgreSQL is behind the store
    const next = owner(EPOCH + 1);
    await next.claim();
    await next.handle([envelope(2, [credit('e2', 'acc-1', 5n)])]);
    expect((await published()).map((r) => r.balanceAfterMinor)).toEqual([105n]);
    expect(next.counters.rollbacks).toBe(0);
  });
  it('drops the batches of an enrich epoch older than one it applied, here or under its previous owner', async () => {
    const store = createMemoryStateStore();
    const { stage, owner, published } = await setup(store);
    await stage.handle([
      envelope(1, [credit('e1', 'acc-1', 1n)], 3),
      envelope(2, [credit('e2', 'acc-1', 2n)], 2), // a deposed enrich instance's output
      envelope(3, [credit('e3', 'acc-1', 4n)], 3),
    ]);
    await stage.handle([envelope(4, [credit('e4', 'acc-1', 8n)], 1)]);
    expect((await published()).map((r) => r.eventId)).toEqual(['e1', 'e3']);
    expect(stage.counters.staleBatches).toBe(2);

    // The next owner knows nothing yet of enrich epochs: the partition's marker tells it.
    const next = owner(EPOCH + 1);
    await next.claim();
    await next.handle([envelope(5, [credit('e5', 'acc-1', 16n)], 2)]);
    await next.handle([envelope(6, [credit('e6', 'acc-1', 32n)], 3)]);
    expect((await published()).map((r) => [r.eventId, r.balanceAfterMinor])).toEqual([['e6', 37n]]);
    expect(next.counters.staleBatches).toBe(1);
  });

  it('publishes its results under its epoch, and nothing once a newer owner claimed the partition', async () => {
    const store = createMemoryStateStore();
    const { stage, owner, batches } = await setup(store);
    await stage.handle([envelope(1, [credit('e1', 'acc-1', 1n)])]);
    expect((await batches()).map((b) => b.producerEpoch)).toEqual([BigInt(EPOCH)]);

    await owner(EPOCH + 1).claim();
    const refused = await stage.handle([envelope(2, [credit('e2', 'acc-1', 1n)])]).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: PipelineErrorCode.fenced, currentEpoch: EPOCH + 1 });
    expect(await batches()).toEqual([]);
    expect((await store.read(PARTITION, ['acc-1'], [], NOW)).accounts.get('acc-1')?.balanceMinor).toBe(1n);
  });

  it('takes a partition the store never had as new, not as a loss', async () => {
    const store = createMemoryStateStore();
    const { stage, published } = await setup(store, () => NOW, { marker: false });
    await stage.handle([envelope(1, [credit('e1', 'acc-1', 5n)])]);
    expect((await published()).map((r) => r.balanceAfterMinor)).toEqual([5n]);
    expect(stage.counters.recoveries).toBe(0);
    expect((await store.read(PARTITION, [], [], NOW)).marker).toMatchObject({
      recoveredAtMs: null,
      owner: EPOCH,
    });
  });

  it('rebuilds a partition its store lost from the ledger, once the writer committed all it was sent', async () => {
    const store = createMemoryStateStore();
    const { stage, owner, ledger, published } = await setup(store);
    await stage.handle([envelope(1, [credit('e1', 'acc-1', 100n)])]);
    // The store loses everything and the stage restarts (nothing in memory), while e1's result is still on its way
    // to the writer: the ledger does not know it yet.
    store.forget(PARTITION);
    const next = owner(EPOCH + 1);
    await next.claim();
    let done = false;
    const turn = next
      .handle([envelope(2, [credit('e1', 'acc-1', 100n), credit('e2', 'acc-1', 7n)])])
      .then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false);
    ledger.commit(await published());
    await turn;
    expect((await published()).map((r) => [r.eventId, r.balanceAfterMinor])).toEqual([['e2', 107n]]);
    expect(next.counters).toMatchObject({ recoveries: 1, duplicates: 1, rebuiltFromDatabase: 1 });
    expect((await store.read(PARTITION, [], [], NOW)).marker).toMatchObject({
      recoveredAtMs: NOW,
      owner: EPOCH + 1,
    });
  });
});
