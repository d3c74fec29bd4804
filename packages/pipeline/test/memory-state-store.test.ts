import { describe, expect, it } from 'vitest';
import { createMemoryStateStore, isPipelineError, PipelineErrorCode } from '../src/index.js';
import { classifyFailure } from '@throughline/runtime';

const account = { balanceMinor: 5n, position: 3n, debitsDay: 1, debitsDayMinor: 0n };
const FENCE = { epoch: 4, upstream: 0, highWater: 0n };

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

  it('returns the accounts it has and the event ids applied within the horizon', async () => {
    const store = createMemoryStateStore({ dedupHorizonMs: 1000 });
    await store.initMarker(1, null, 0, FENCE.epoch);
    await store.write(1, FENCE, new Map([['a', account]]), ['e1', 'e2'], 500);
    const read = await store.read(1, ['a', 'b'], ['e1', 'e3'], 600);
    expect([...read.accounts]).toEqual([['a', account]]);
    expect(read.seen).toEqual(new Set(['e1']));
    expect((await store.read(2, ['a'], ['e1'], 600)).seen.size).toBe(0);
    // Remembered for at least the horizon, forgotten after twice it.
    expect((await store.read(1, [], ['e1'], 1_900)).seen).toEqual(new Set(['e1']));
    expect((await store.read(1, [], ['e1'], 2_100)).seen.size).toBe(0);
  });

  it('refuses a write without a marker (retried after a rebuild) and a write older than the last claim', async () => {
    const store = createMemoryStateStore();
    const lost: unknown = await store
      .write(3, FENCE, new Map([['a', account]]), [], 0)
      .catch((e: unknown) => e);
    expect(classifyFailure(lost)).toEqual({ kind: 'dependency', dependency: 'state', reason: 'state_lost' });
    await store.initMarker(3, null, 0, 4);
    await store.claim(3, 9);
    const stale: unknown = await store
      .write(3, FENCE, new Map([['a', account]]), ['x'], 0)
      .catch((e: unknown) => e);
    expect(isPipelineError(stale) && stale.code === PipelineErrorCode.fenced).toBe(true);
    expect((await store.read(3, ['a'], ['x'], 0)).accounts.size).toBe(0);
    await store.write(3, { epoch: 9, upstream: 2, highWater: 0n }, new Map([['a', account]]), ['x'], 0);
    expect((await store.read(3, ['a'], ['x'], 0)).marker).toMatchObject({ owner: 9, upstream: 2 });
  });
});
