import { describe, expect, it } from 'vitest';
import { createMemoryStateStore, isPipelineError, PipelineErrorCode } from '../src/index.js';
import { classifyFailure } from '@throughline/runtime';

const account = { balanceMinor: 5n, position: 3n, debitsDay: 1, debitsDayMinor: 0n };
const FENCE = { epoch: 4, upstream: 0, highWater: 0n };
const claim = (eventId: string, position: number, redrivenFrom?: number) => ({
  eventId,
  position: BigInt(position),
  ...(redrivenFrom === undefined ? {} : { redrivenFrom: BigInt(redrivenFrom) }),
});

describe('createMemoryStateStore', () => {
  it('has no marker until one is set, then keeps the first and raises its owner', async () => {
    const store = createMemoryStateStore();
    expect((await store.read(0, [], [], 1000)).marker).toBeUndefined();
    const first = { createdAtMs: 1000, recoveredAtMs: null, owner: 4, upstream: 0, highWater: 0n };
    expect(await store.initMarker(0, null, 1000, 4)).toEqual(first);
    expect(await store.initMarker(0, 5, 2000, 6)).toEqual({ ...first, owner: 6 });
    store.forget(0);
    expect((await store.read(0, [], [], 3000)).marker).toBeUndefined();
  });

  it('returns the accounts it has, and claims event ids across every partition within the horizon', async () => {
    const store = createMemoryStateStore({ dedupHorizonMs: 1000 });
    await store.initMarker(1, null, 0, FENCE.epoch);
    await store.write(1, FENCE, new Map([['a', account]]));
    const read = await store.read(1, ['a', 'b'], [claim('e1', 10), claim('e2', 11)], 500);
    expect([...read.accounts]).toEqual([['a', account]]);
    expect(read.taken.size).toBe(0);
    // The same event finds its own claim; another occurrence, in any partition, finds it taken.
    expect((await store.read(1, [], [claim('e1', 10), claim('e3', 12)], 600)).taken.size).toBe(0);
    expect((await store.read(2, ['a'], [claim('e1', 20)], 600)).taken).toEqual(new Set([20n]));
    expect((await store.read(2, [], [claim('e5', 50), claim('e5', 51)], 600)).taken).toEqual(new Set([51n]));
    // Remembered for at least the horizon, forgotten after twice it.
    expect((await store.read(1, [], [claim('e1', 30)], 1_900)).taken).toEqual(new Set([30n]));
    expect((await store.read(1, [], [claim('e1', 30)], 2_100)).taken.size).toBe(0);
  });

  it('finds a claim made in the next bucket by an instance whose clock runs ahead', async () => {
    const store = createMemoryStateStore({ dedupHorizonMs: 1000 });
    await store.read(1, [], [claim('e1', 10)], 2_005);
    expect((await store.read(2, [], [claim('e1', 20)], 1_995)).taken).toEqual(new Set([20n]));
  });

  it('passes a claim to the new position of an event redriven from it, once', async () => {
    const store = createMemoryStateStore({ dedupHorizonMs: 1000 });
    await store.read(1, [], [claim('e1', 10)], 0);
    expect((await store.read(1, [], [claim('e1', 30, 10)], 0)).taken.size).toBe(0);
    expect((await store.read(1, [], [claim('e1', 31, 10)], 0)).taken).toEqual(new Set([31n]));
    expect((await store.read(1, [], [claim('e1', 10)], 0)).taken).toEqual(new Set([10n]));
    // In the next bucket, the claim held in the previous one moves on.
    expect((await store.read(1, [], [claim('e1', 40, 30)], 1_000)).taken.size).toBe(0);
    expect((await store.read(1, [], [claim('e1', 30)], 1_000)).taken).toEqual(new Set([30n]));
    expect((await store.read(1, [], [claim('e1', 60, 55)], 1_000)).taken).toEqual(new Set([60n]));
  });

  it('refuses a write without a marker (retried after a rebuild) and a write older than the last claim', async () => {
    const store = createMemoryStateStore();
    const lost: unknown = await store.write(3, FENCE, new Map([['a', account]])).catch((e: unknown) => e);
    expect(classifyFailure(lost)).toEqual({ kind: 'dependency', dependency: 'state', reason: 'state_lost' });
    await store.initMarker(3, null, 0, 4);
    await store.claim(3, 9);
    const stale: unknown = await store.write(3, FENCE, new Map([['a', account]])).catch((e: unknown) => e);
    expect(isPipelineError(stale) && stale.code === PipelineErrorCode.fenced).toBe(true);
    expect((await store.read(3, ['a'], [], 0)).accounts.size).toBe(0);
    await store.write(3, { epoch: 9, upstream: 2, highWater: 0n }, new Map([['a', account]]));
    expect((await store.read(3, ['a'], [], 0)).marker).toMatchObject({ owner: 9, upstream: 2 });
  });
});
