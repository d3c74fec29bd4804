import { describe, expect, it } from 'vitest';
import { createMemoryStateStore } from '@throughline/embedded';

const account = { balanceMinor: 5n, position: 3n, debitsDay: 1, debitsDayMinor: 0n };

describe('createMemoryStateStore', () => {
  it('has no epoch until one is set, then keeps the first', async () => {
    const store = createMemoryStateStore();
    expect((await store.read(0, [], [], 1000)).epoch).toBeUndefined();
    expect(await store.initEpoch(0, null, 1000)).toEqual({ createdAtMs: 1000, recoveredAtMs: null });
    expect(await store.initEpoch(0, 5, 2000)).toEqual({ createdAtMs: 1000, recoveredAtMs: null });
    store.forget(0);
    expect((await store.read(0, [], [], 3000)).epoch).toBeUndefined();
  });

  it('returns the accounts it has and the event ids applied within the horizon', async () => {
    const store = createMemoryStateStore({ dedupHorizonMs: 1000 });
    await store.write(1, new Map([['a', account]]), ['e1', 'e2'], 500);
    const read = await store.read(1, ['a', 'b'], ['e1', 'e3'], 600);
    expect([...read.accounts]).toEqual([['a', account]]);
    expect(read.seen).toEqual(new Set(['e1']));
    expect((await store.read(2, ['a'], ['e1'], 600)).seen.size).toBe(0);
    // Remembered for at least the horizon, forgotten after twice it.
    expect((await store.read(1, [], ['e1'], 1_900)).seen).toEqual(new Set(['e1']));
    expect((await store.read(1, [], ['e1'], 2_100)).seen.size).toBe(0);
  });
});
