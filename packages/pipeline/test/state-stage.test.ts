/**
 * The state stage's de-duplication against the ledger: an earlier attempt of the same turn that was committed must
 * be applied again (its store write failed), another occurrence of an event id must not move a balance.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus, type Bus, type BusMessage } from '@throughline/bus';
import {
  Direction,
  EnrichedBatch,
  ResultBatch,
  type Event,
  type Result,
  type TenantConfig,
} from '@throughline/contracts';
import { EMPTY_ACCOUNT, enrichEvent, type AccountState } from '@throughline/ledger';
import type { Envelope } from '@throughline/runtime';
import {
  createMemoryStateStore,
  StateStage,
  type CommittedEvent,
  type CommittedState,
  type StateStore,
} from '../src/index.js';

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
function envelope(seq: number, events: Event[]): Envelope<EnrichedBatch> {
  const value: EnrichedBatch = {
    batchId: `b${seq}`,
    partition: PARTITION,
    producerEpoch: 1n,
    events: events.map((e, i) => enrichEvent(e, (BigInt(seq) << 16n) | BigInt(i), BigInt(NOW), TENANT)),
  } as EnrichedBatch;
  return { value, msg: { seq, deliveryCount: 1, publishedAtMs: NOW } as BusMessage };
}

/** The ledger as the writer leaves it: the first result of each event id wins (ON CONFLICT DO NOTHING). */
class Ledger implements CommittedState {
  readonly rows = new Map<string, Result>();
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
  let bus: Bus;
  afterEach(async () => {
    await bus?.close();
  });

  async function setup(store: StateStore, now: () => number = () => NOW) {
    bus = createMemoryBus();
    await bus.ensureTopology();
    await store.initMarker(PARTITION, null, NOW, EPOCH);
    const ledger = new Ledger();
    const stage = new StateStage({ bus, partition: PARTITION, epoch: EPOCH, store, committed: ledger, now });
    const owner = (epoch: number) =>
      new StateStage({ bus, partition: PARTITION, epoch, store, committed: ledger, now });
    const out = await bus.openMailbox({ group: 'writer', topic: 'applied', partition: PARTITION });
    /** The results published since the last call. */
    const published = async (): Promise<Result[]> => {
      const msgs = await out.next({ maxMessages: 100, maxWaitMs: 50 });
      for (const m of msgs) await m.ack();
      return msgs.flatMap((m) => ResultBatch.decode(m.data).results);
    };
    return { stage, ledger, published, owner };
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
    const read = await store.read(PARTITION, ['acc-1'], ['e1', 'e2'], NOW);
    expect(read.accounts.get('acc-1')?.balanceMinor).toBe(160n);
    expect([...read.seen].sort()).toEqual(['e1', 'e2']);

    // The next event builds on that balance.
    await stage.handle([envelope(3, [credit('e3', 'acc-1', 1n)])]);
    expect((await published()).map((r) => r.balanceAfterMinor)).toEqual([161n]);
  });

  it('moves no balance for an event id the ledger holds for another account or position', async () => {
    let clock = NOW;
    const { stage, ledger, published } = await setup(
      createMemoryStateStore({ dedupHorizonMs: 1_000 }),
      () => clock,
    );
    await stage.handle([envelope(1, [credit('e1', 'acc-1', 100n)])]);
    ledger.commit(await published());

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
    expect(stage.counters.duplicates).toBe(2);
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

  /** Two turns committed, then the store rolled back to before the second: as Redis replaying an older file. */
  async function rolledBackAfterTwoTurns() {
    const store = createMemoryStateStore();
    const env = await setup(store);
    await env.stage.handle([envelope(1, [credit('e1', 'acc-1', 100n)])]);
    env.ledger.commit(await env.published());
    const restore = store.snapshot(PARTITION);
    await env.stage.handle([envelope(2, [credit('e2', 'acc-1', 50n)])]);
    env.ledger.commit(await env.published());
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
});
