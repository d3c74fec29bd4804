import fc from 'fast-check';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { connectJetStreamBus, createMemoryBus, type Bus, type LeaseBucket } from '@throughline/bus';
import { startNats, waitFor, type NatsHandle } from '@throughline/testkit';
import {
  assignPartitions,
  PartitionOwnership,
  readOwnership,
  type Lease,
  type Logger,
  type OwnershipObserver,
} from '../src/index.js';

const P = 16;
const TTL_MS = 600;

describe('assignPartitions', () => {
  it('gives every partition to exactly one member, ⌊P/N⌋ or ⌈P/N⌉ each, whatever the order of the list', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 64 }),
        (members, partitions) => {
          const assigned = assignPartitions(members, partitions);
          const all = [...assigned.values()].flat().sort((a, b) => a - b);
          expect(all).toEqual(Array.from({ length: partitions }, (_, p) => p));
          for (const list of assigned.values()) {
            expect(list.length).toBeGreaterThanOrEqual(Math.floor(partitions / members.length));
            expect(list.length).toBeLessThanOrEqual(Math.ceil(partitions / members.length));
          }
          expect(assignPartitions([...members].reverse(), partitions)).toEqual(assigned);
        },
      ),
    );
  });

  it('moves few partitions when a member joins: on average about the newcomer\u2019s share', () => {
    let moved = 0;
    let share = 0;
    for (let trial = 0; trial < 200; trial++) {
      const ids = Array.from({ length: 6 }, (_, i) => `state-${trial}-${i}`);
      for (let n = 1; n < ids.length; n++) {
        const before = ownerOf(assignPartitions(ids.slice(0, n), P));
        const after = ownerOf(assignPartitions(ids.slice(0, n + 1), P));
        for (let p = 0; p < P; p++) if (before.get(p) !== after.get(p)) moved++;
        share += Math.floor(P / (n + 1));
      }
    }
    // Measured: 1.5–1.6× for P = 16 (a full reshuffle would be ~P(n-1)/n, 5–9× here).
    expect(moved / share).toBeLessThan(1.8);
  });
});

function ownerOf(assignment: Map<string, number[]>): Map<number, string> {
  const owners = new Map<number, string>();
  for (const [member, partitions] of assignment) for (const p of partitions) owners.set(p, member);
  return owners;
}

/** Who processes which partition right now, across every member of a test: catches two owners at once. */
class Processing {
  readonly holders = new Map<number, { member: string; epoch: number }>();
  readonly epochs = new Map<number, number[]>();
  overlaps = 0;
  stops: { member: string; partition: number; reason: string }[] = [];

  start(member: string, lease: Lease): void {
    if (this.holders.has(lease.partition)) this.overlaps++;
    this.holders.set(lease.partition, { member, epoch: lease.epoch });
    this.epochs.set(lease.partition, [...(this.epochs.get(lease.partition) ?? []), lease.epoch]);
  }

  stop(member: string, lease: Lease, reason: string): void {
    const holder = this.holders.get(lease.partition);
    if (holder?.member === member && holder.epoch === lease.epoch) this.holders.delete(lease.partition);
    this.stops.push({ member, partition: lease.partition, reason });
  }

  countOf(member: string): number {
    return [...this.holders.values()].filter((h) => h.member === member).length;
  }
}

/** A bucket whose calls fail while `cut` is set: a member cut off from NATS, or paused. */
function severable(bucket: LeaseBucket): LeaseBucket & { cut: boolean } {
  const guard =
    <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      wrapper.cut ? Promise.reject(new Error('connection lost')) : f(...args);
  const wrapper = {
    cut: false,
    ttlMs: bucket.ttlMs,
    create: guard((k: string, v: Uint8Array) => bucket.create(k, v)),
    update: guard((k: string, v: Uint8Array, r: number) => bucket.update(k, v, r)),
    put: guard((k: string, v: Uint8Array) => bucket.put(k, v)),
    delete: guard((k: string, r?: number) => bucket.delete(k, r)),
    get: guard((k: string) => bucket.get(k)),
    advanceRevision: guard((floor: number) => bucket.advanceRevision(floor)),
    entries: guard((prefix: string) => bucket.entries(prefix)),
    watch: (prefix: string, onEntry: Parameters<LeaseBucket['watch']>[1]) =>
      bucket.watch(prefix, (e) => {
        if (!wrapper.cut) onEntry(e);
      }),
  };
  return wrapper;
}

/**
 * `update` of `leases` whose first write of partition `moved`'s lease loses to a newer value of it, written just
 * before (the same value, one revision on); `raced` tells whether that happened.
 */
function firstWriteLoses(
  leases: LeaseBucket,
  moved: number,
): { update: LeaseBucket['update']; raced: boolean } {
  const race = {
    raced: false,
    update: async (k: string, v: Uint8Array, r: number): Promise<number | undefined> => {
      if (!race.raced && k.endsWith(`.lease.${moved}`)) {
        race.raced = true;
        const current = (await leases.get(k))!;
        await leases.update(k, current.value!, current.revision);
      }
      return leases.update(k, v, r);
    },
  };
  return race;
}

let nats: NatsHandle | undefined;
afterAll(async () => {
  await nats?.stop();
});

const buses: [string, () => Promise<Bus>][] = [
  ['in memory', () => Promise.resolve(createMemoryBus({ leaseTtlMs: TTL_MS }))],
  [
    'on NATS KV',
    async () => {
      nats ??= await startNats();
      const bus = await connectJetStreamBus({ servers: nats.url, settings: { leaseTtlMs: TTL_MS } });
      await bus.ensureTopology();
      // Each test starts from an empty bucket.
      const bucket = await bus.leases();
      for (const e of await bucket.entries('state')) await bucket.delete(e.key);
      return bus;
    },
  ],
];

describe.each(buses)('PartitionOwnership over a lease bucket %s', (_name, makeBus) => {
  let bus: Bus;
  /** A bus for this test, closed when it ends, after its members stopped. */
  async function openBus(): Promise<Bus> {
    const opened = await makeBus();
    onTestFinished(() => opened.close());
    return opened;
  }

  async function member(
    processing: Processing,
    id: string,
    opts: {
      bucket?: LeaseBucket;
      staticPartitions?: number[];
      drainMs?: number | ((partition: number) => number);
      logger?: Logger;
      observer?: OwnershipObserver;
      renewIntervalMs?: number;
    } = {},
  ): Promise<PartitionOwnership> {
    const m = new PartitionOwnership({
      bucket: opts.bucket ?? (await bus.leases()),
      stage: 'state',
      memberId: id,
      partitionCount: P,
      ...(opts.staticPartitions ? { staticPartitions: opts.staticPartitions } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.observer ? { observer: opts.observer } : {}),
      ...(opts.renewIntervalMs ? { renewIntervalMs: opts.renewIntervalMs } : {}),
      start: (lease) => processing.start(id, lease),
      stop: async (lease, reason) => {
        // A turn in flight finishes before the partition is released.
        const drainMs = typeof opts.drainMs === 'function' ? opts.drainMs(lease.partition) : opts.drainMs;
        if (reason !== 'lost') await new Promise((r) => setTimeout(r, drainMs ?? 20));
        processing.stop(id, lease, reason);
      },
    });
    onTestFinished(() => m.stop());
    await m.start();
    return m;
  }

  const balanced = (processing: Processing, ids: string[]) => () =>
    Promise.resolve(
      processing.holders.size === P &&
        ids.every((id) => Math.abs(processing.countOf(id) - P / ids.length) <= 1),
    );

  it('spreads the partitions over the members as they join and leave, never two owners at once', async () => {
    bus = await openBus();
    const processing = new Processing();
    const a = await member(processing, 'a');
    await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
    const firstEpochs = new Map([...processing.holders].map(([p, h]) => [p, h.epoch]));

    await member(processing, 'b');
    await waitFor(balanced(processing, ['a', 'b']), { timeoutMs: 5_000, intervalMs: 10 });
    const c = await member(processing, 'c');
    await waitFor(balanced(processing, ['a', 'b', 'c']), { timeoutMs: 5_000, intervalMs: 10 });
    expect(a.owned().length + c.owned().length).toBeGreaterThan(0);

    // A member leaving hands its partitions over cooperatively: the others take them without waiting for expiry.
    const leftAt = Date.now();
    await c.stop();
    await waitFor(balanced(processing, ['a', 'b']), { timeoutMs: TTL_MS / 2, intervalMs: 5 });
    expect(Date.now() - leftAt).toBeLessThan(TTL_MS);

    expect(processing.overlaps).toBe(0);
    expect(processing.stops.every((s) => s.reason !== 'lost')).toBe(true);
    // What `throughline status` shows: every partition with its owner and epoch, and the last hand-over.
    // (Read once the last hand-overs have settled: a reconcile may still move a partition between a and b.)
    const bucket = await bus.leases();
    let view = await readOwnership(bucket, 'state', P);
    const agrees = (v: typeof view) =>
      v.partitions.every((p) => {
        const holder = processing.holders.get(p.partition);
        return holder !== undefined && p.owner === holder.member && p.epoch === holder.epoch;
      });
    await waitFor(
      async () => {
        view = await readOwnership(bucket, 'state', P);
        return agrees(view);
      },
      { timeoutMs: 5_000, intervalMs: 20, message: 'the lease bucket and the processing never agreed' },
    );
    expect(view.members.map((m) => m.member)).toEqual(['a', 'b']);
    for (const p of view.partitions) {
      const holder = processing.holders.get(p.partition)!;
      expect(p).toMatchObject({ owner: holder.member, epoch: holder.epoch });
    }
    expect(view.partitions.some((p) => p.previousOwner === 'c' && p.pauseMs !== null)).toBe(true);
    // Every acquisition of a partition has a larger epoch than the one before.
    for (const [partition, epochs] of processing.epochs) {
      expect(epochs[0]).toBe(firstEpochs.get(partition));
      for (let i = 1; i < epochs.length; i++) expect(epochs[i]).toBeGreaterThan(epochs[i - 1]!);
    }
  });

  it('hands each partition of a member that stops over as soon as its turn is done, not after the slowest', async () => {
    bus = await openBus();
    const processing = new Processing();
    const slow = { partition: -1 };
    await member(processing, 'a');
    const b = await member(processing, 'b', { drainMs: (p) => (p === slow.partition ? TTL_MS / 2 : 5) });
    await waitFor(balanced(processing, ['a', 'b']), { timeoutMs: 5_000, intervalMs: 10 });
    const ofB = b.owned().map((l) => l.partition);
    slow.partition = ofB[0]!;
    const fast = ofB.slice(1);
    const stopping = b.stop();
    // The partitions whose turn is done are a's while b still finishes its slow one: b counted itself out first.
    await waitFor(() => Promise.resolve(fast.every((p) => processing.holders.get(p)?.member === 'a')), {
      timeoutMs: TTL_MS / 2,
      intervalMs: 5,
      message: "a did not take b's drained partitions while b finished its slowest turn",
    });
    expect(processing.holders.get(slow.partition)?.member).toBe('b');
    await stopping;
    await waitFor(balanced(processing, ['a']), { timeoutMs: TTL_MS, intervalMs: 5 });
    expect(processing.overlaps).toBe(0);
  });

  /** Records the pause of every cooperative hand-over to the member it is given to. */
  const pauses = (into: Map<number, number>): OwnershipObserver => ({
    acquired: (lease, info) => {
      if (info.pauseMs !== null) into.set(lease.partition, info.pauseMs);
    },
  });

  it('watches the bucket before registering, so no partition is released to it before it can see that', async () => {
    bus = await openBus();
    const processing = new Processing();
    await member(processing, 'a');
    await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
    // b's watches take a while to open, as on a busy machine.
    const leases = await bus.leases();
    const slowWatch: LeaseBucket = {
      ...severable(leases),
      watch: async (prefix, onEntry) => {
        await new Promise((r) => setTimeout(r, TTL_MS));
        return leases.watch(prefix, onEntry);
      },
    };
    const paused = new Map<number, number>();
    await member(processing, 'b', { bucket: slowWatch, observer: pauses(paused) });
    await waitFor(balanced(processing, ['a', 'b']), { timeoutMs: 5_000, intervalMs: 10 });
    expect(paused.size).toBe(P / 2);
    // Registered first, b would have seen each release only once its watch opened, a time to live later.
    expect(Math.max(...paused.values())).toBeLessThan(TTL_MS / 2);
  });

  it('goes for a partition released to it at once, even while an acquisition of another hangs', async () => {
    bus = await openBus();
    const processing = new Processing();
    const hung = assignPartitions(['a', 'b'], P).get('b')![0]!;
    // a releases `hung` at once and the others a little later; b's write taking `hung` hangs for a while.
    await member(processing, 'a', { drainMs: (p) => (p === hung ? 5 : TTL_MS / 6) });
    await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
    const leases = await bus.leases();
    let hang = true;
    const bucket: LeaseBucket = {
      ...severable(leases),
      update: async (k, v, r) => {
        if (hang && k.endsWith(`.${hung}`)) {
          hang = false;
          await new Promise((resolve) => setTimeout(resolve, TTL_MS / 2));
        }
        return leases.update(k, v, r);
      },
    };
    const paused = new Map<number, number>();
    await member(processing, 'b', { bucket, observer: pauses(paused) });
    await waitFor(balanced(processing, ['a', 'b']), { timeoutMs: 5_000, intervalMs: 10 });
    const others = [...paused].filter(([p]) => p !== hung).map(([, ms]) => ms);
    expect(others).toHaveLength(P / 2 - 1);
    // Waiting for the hung write, each of them would have paused until it was answered.
    expect(Math.max(...others)).toBeLessThan(TTL_MS / 4);
    expect(processing.overlaps).toBe(0);
  });

  it('goes for a released partition again at once when its first write lost to a newer value of the lease', async () => {
    bus = await openBus();
    const processing = new Processing();
    const moved = assignPartitions(['a', 'b'], P).get('b')![0]!;
    // a releases `moved` last, so no later release makes b run a pass of its own accord.
    await member(processing, 'a', { drainMs: (p) => (p === moved ? TTL_MS / 6 : 5) });
    await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
    const leases = await bus.leases();
    const race = firstWriteLoses(leases, moved);
    const bucket: LeaseBucket = { ...severable(leases), update: race.update };
    const paused = new Map<number, number>();
    // Its heartbeat, which would try again too, is far off.
    await member(processing, 'b', { bucket, observer: pauses(paused), renewIntervalMs: 60_000 });
    await waitFor(() => Promise.resolve(paused.has(moved)), {
      timeoutMs: TTL_MS / 2,
      intervalMs: 5,
      message: `b did not take partition ${moved} again after its first write lost`,
    });
    expect(race.raced).toBe(true);
  });

  it("says where the pause went when its first write lost: the watch's value is kept over the same one read back", async () => {
    bus = await openBus();
    const processing = new Processing();
    const moved = assignPartitions(['a', 'b'], P).get('b')![0]!;
    await member(processing, 'a', { drainMs: (p) => (p === moved ? TTL_MS / 6 : 5) });
    await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
    const leases = await bus.leases();
    const race = firstWriteLoses(leases, moved);
    const watched = new Map<string, number>();
    const bucket: LeaseBucket = {
      ...severable(leases),
      update: race.update,
      // The read after the refused write answers once the watch has brought the value it reads.
      get: async (k) => {
        const entry = await leases.get(k);
        if (entry !== undefined)
          await waitFor(() => Promise.resolve((watched.get(k) ?? 0) >= entry.revision), { intervalMs: 5 });
        return entry;
      },
      watch: (prefix, onEntry) =>
        leases.watch(prefix, (e) => {
          onEntry(e);
          watched.set(e.key, Math.max(watched.get(e.key) ?? 0, e.revision));
        }),
    };
    const acquired: Record<string, unknown>[] = [];
    await member(processing, 'b', {
      bucket,
      renewIntervalMs: 60_000,
      logger: {
        debug: () => undefined,
        info: (m, fields) => void (m.includes(`acquired partition ${moved}`) && acquired.push(fields ?? {})),
        warn: () => undefined,
        error: () => undefined,
      },
    });
    await waitFor(() => Promise.resolve(acquired.length > 0), {
      timeoutMs: TTL_MS / 2,
      intervalMs: 5,
      message: `b did not take partition ${moved}`,
    });
    expect(race.raced).toBe(true);
    // The split of the pause comes from the watched value: read back, it would say nothing of the store and the
    // delivery, and count the refused write's round trips as the time until the release was seen.
    expect(acquired[0]).toMatchObject({
      storedAfterMs: expect.any(Number),
      deliveredAfterMs: expect.any(Number),
      loopStoodStillMs: expect.any(Number),
    });
  });

  it('hands over a partition it finished taking after that partition had moved on to a newer member', async () => {
    bus = await openBus();
    const processing = new Processing();
    // A partition of b's share with two members that is c's with three.
    const moved = assignPartitions(['a', 'b'], P)
      .get('b')!
      .find((p) => assignPartitions(['a', 'b', 'c'], P).get('c')!.includes(p))!;
    expect(moved).toBeDefined();
    await member(processing, 'a');
    await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
    const leases = await bus.leases();
    let joinC: (() => void) | undefined;
    const cJoined = new Promise<void>((resolve) => (joinC = resolve));
    const bucket: LeaseBucket = {
      ...severable(leases),
      // b's write of `moved`'s epoch is answered only once c has joined and b has seen it.
      update: async (k, v, r) => {
        if (k.endsWith(`.lease.${moved}`) && JSON.parse(new TextDecoder().decode(v)).epoch > 0) await cJoined;
        return leases.update(k, v, r);
      },
    };
    // b's heartbeat, which would hand it over too, is far off.
    const b = await member(processing, 'b', { bucket, renewIntervalMs: 60_000 });
    await waitFor(() => Promise.resolve(b.owned().length === P / 2 - 1), {
      timeoutMs: 5_000,
      intervalMs: 10,
    });
    await member(processing, 'c');
    // Every other hand-over to c done first: none of their releases may make b run a pass after its write.
    const ofC = assignPartitions(['a', 'b', 'c'], P).get('c')!.length;
    await waitFor(() => Promise.resolve(processing.countOf('c') === ofC - 1), {
      timeoutMs: 5_000,
      intervalMs: 5,
    });
    expect(b.liveMembers()).toContain('c');
    await new Promise((r) => setTimeout(r, 50));
    joinC!();
    await waitFor(() => Promise.resolve(processing.holders.get(moved)?.member === 'c'), {
      timeoutMs: TTL_MS / 2,
      intervalMs: 5,
      message: `b kept partition ${moved}, taken after it had moved on to c`,
    });
    expect(processing.overlaps).toBe(0);
  });

  it('leaves nothing running when its registration fails at start', async () => {
    bus = await openBus();
    const processing = new Processing();
    const leases = await bus.leases();
    let watchesOpen = 0;
    const bucket: LeaseBucket = {
      ...severable(leases),
      put: () => Promise.reject(new Error('connection lost')),
      watch: async (prefix, onEntry) => {
        const watch = await leases.watch(prefix, onEntry);
        watchesOpen++;
        return {
          stop: async () => {
            watchesOpen--;
            await watch.stop();
          },
        };
      },
    };
    // A static member: its target does not wait for the members, so only the failed start keeps it from acting.
    const m = new PartitionOwnership({
      bucket,
      stage: 'state',
      memberId: 'fixed',
      partitionCount: P,
      staticPartitions: [0, 1, 2],
      start: (lease) => processing.start('fixed', lease),
      stop: (lease, reason) => Promise.resolve(processing.stop('fixed', lease, reason)),
    });
    await expect(m.start()).rejects.toThrow(/connection lost/);
    await leases.put('state.lease.9', new TextEncoder().encode('{}'));
    await new Promise((r) => setTimeout(r, TTL_MS));
    expect(watchesOpen).toBe(0);
    expect(processing.holders.size).toBe(0);
  });

  it('takes a partition released to it even when the released lease expired before it could write', async () => {
    bus = await openBus();
    const processing = new Processing();
    const a = await member(processing, 'a');
    await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
    // b registers and sees every lease change, but its compare-and-set writes fail (as during a NATS restart) for
    // longer than the time to live: the leases a releases to it expire unclaimed, which no watch event tells.
    const leases = await bus.leases();
    let refusing = true;
    const refused =
      <A extends unknown[], R>(f: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> =>
        refusing ? Promise.reject(new Error('connection lost')) : f(...args);
    const bucket: LeaseBucket = {
      ttlMs: leases.ttlMs,
      create: refused((k: string, v: Uint8Array) => leases.create(k, v)),
      update: refused((k: string, v: Uint8Array, r: number) => leases.update(k, v, r)),
      put: (k, v) => leases.put(k, v),
      delete: (k, r) => leases.delete(k, r),
      get: (k) => leases.get(k),
      advanceRevision: (floor) => leases.advanceRevision(floor),
      entries: (prefix) => leases.entries(prefix),
      watch: (prefix, onEntry) => leases.watch(prefix, onEntry),
    };
    await member(processing, 'b', { bucket });
    await waitFor(() => Promise.resolve(a.owned().length === P / 2), { timeoutMs: 5_000, intervalMs: 10 });
    await new Promise((resolve) => setTimeout(resolve, 2 * TTL_MS));
    expect(processing.holders.size).toBe(P / 2);
    refusing = false;
    await waitFor(balanced(processing, ['a', 'b']), {
      timeoutMs: 5 * TTL_MS,
      intervalMs: 10,
      message: 'b never took the partitions whose released leases expired',
    });
    expect(processing.overlaps).toBe(0);
  });

  it('moves the partitions of a member that went silent after its leases expire; it stops them itself', async () => {
    bus = await openBus();
    const processing = new Processing();
    const bucket = severable(await bus.leases());
    const a = await member(processing, 'a', { bucket });
    await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
    await member(processing, 'b');
    // Settled, not just balanced: a partition a is still handing over to b would stop as a hand-over below.
    await waitFor(
      () =>
        Promise.resolve(
          processing.countOf('a') === P / 2 &&
            processing.countOf('b') === P / 2 &&
            a.owned().length === P / 2 &&
            processing.stops.length === P / 2,
        ),
      { timeoutMs: 5_000, intervalMs: 10 },
    );
    const aHeld = new Map([...processing.holders].filter(([, h]) => h.member === 'a'));

    bucket.cut = true;
    const cutAt = Date.now();
    await waitFor(() => Promise.resolve(processing.countOf('b') === P), {
      timeoutMs: 5 * TTL_MS,
      intervalMs: 10,
    });
    // Not before a's leases could have expired: a time to live after a's last renewal, which was up to a heartbeat
    // (a quarter of it) before the cut.
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual((3 * TTL_MS) / 4 - 50);
    for (const [partition, held] of aHeld) {
      expect(processing.holders.get(partition)!.epoch).toBeGreaterThan(held.epoch);
      expect(processing.stops).toContainEqual({ member: 'a', partition, reason: 'lost' });
    }
    // a noticed on its own, within about a time to live of not being able to renew.
    const lostByA = processing.stops.filter((s) => s.member === 'a' && s.reason === 'lost');
    expect(lostByA.map((s) => s.partition).sort((x, y) => x - y)).toEqual(
      [...aHeld.keys()].sort((x, y) => x - y),
    );

    bucket.cut = false;
    await waitFor(balanced(processing, ['a', 'b']), { timeoutMs: 5 * TTL_MS, intervalMs: 10 });
  });

  it('starts, and takes its partitions later, when the bucket never answers some acquisitions', async () => {
    bus = await openBus();
    const processing = new Processing();
    const real = await bus.leases();
    let hang = 3;
    // The first three creates are never answered: the start must not wait for them forever.
    const bucket: LeaseBucket = {
      ...severable(real),
      create: (k, v) => (hang-- > 0 ? new Promise<number | undefined>(() => undefined) : real.create(k, v)),
    };
    const started = Date.now();
    await member(processing, 'a', { bucket });
    expect(Date.now() - started).toBeLessThan(10 * TTL_MS);
    await waitFor(() => Promise.resolve(processing.countOf('a') === P), {
      timeoutMs: 10 * TTL_MS,
      intervalMs: 10,
    });
    expect(processing.overlaps).toBe(0);
  });

  it('gives a static member only its partitions, and only once their holder lets them go', async () => {
    bus = await openBus();
    const processing = new Processing();
    const dynamic = await member(processing, 'dyn');
    await waitFor(balanced(processing, ['dyn']), { timeoutMs: 5_000, intervalMs: 10 });
    // Misconfigured as the only instance: it asks for every partition, but every one is held.
    const all = Array.from({ length: P }, (_, p) => p);
    const fixed = await member(processing, 'fixed', { staticPartitions: all });
    await new Promise((r) => setTimeout(r, 3 * TTL_MS));
    expect(fixed.owned()).toEqual([]);
    expect(processing.countOf('dyn')).toBe(P);
    await dynamic.stop();
    await waitFor(() => Promise.resolve(processing.countOf('fixed') === P), {
      timeoutMs: 5_000,
      intervalMs: 10,
    });
    expect(processing.overlaps).toBe(0);
  });

  it.each(['every key', 'the lease keys only'])(
    'watches again when its watch goes quiet for %s without an error, and hands over to a member it could not see',
    async (which) => {
      bus = await openBus();
      const processing = new Processing();
      const real = await bus.leases();
      // The watches a opened so far stop delivering, as one whose consumer was lost with a NATS node does: no error,
      // nothing more. Watches opened later deliver.
      const quieted = new Set<number>();
      let opened = 0;
      let quietFrom = Infinity;
      const bucket: LeaseBucket = {
        ...severable(real),
        watch: (prefix, onEntry) => {
          const id = opened++;
          return real.watch(prefix, (e) => {
            if (quieted.has(id) && (which === 'every key' || e.key.includes('.lease.'))) return;
            onEntry(e);
          });
        },
      };
      const warnings: string[] = [];
      await member(processing, 'a', {
        bucket,
        logger: {
          debug: () => undefined,
          info: () => undefined,
          warn: (m) => void warnings.push(m),
          error: () => undefined,
        },
      });
      await waitFor(balanced(processing, ['a']), { timeoutMs: 5_000, intervalMs: 10 });
      quietFrom = opened;
      for (let id = 0; id < quietFrom; id++) quieted.add(id);
      await member(processing, 'b');
      // a must learn of b to hand it its share: with every watch quiet, only a watch opened again can tell it.
      await waitFor(balanced(processing, ['a', 'b']), {
        timeoutMs: 10 * TTL_MS,
        intervalMs: 10,
        message: 'a never handed over to b: its quiet watch hid b',
      });
      // (With the members still delivered, a sees b and hands over at once; its lease renewals, which the watch
      // no longer brings back, are what tells it the watch went quiet.)
      await waitFor(() => Promise.resolve(warnings.some((w) => w.includes('watching again'))), {
        timeoutMs: 10 * TTL_MS,
        intervalMs: 10,
        message: `a never noticed that its watch went quiet for ${which}`,
      });
      expect(opened).toBeGreaterThan(quietFrom);
      expect(processing.overlaps).toBe(0);
    },
  );
});
