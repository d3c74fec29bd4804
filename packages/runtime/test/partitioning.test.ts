import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ownedPartitions, ownedPartitionsFromEnv } from '../src/index.js';

describe('ownedPartitions', () => {
  it('gives each partition to exactly one instance', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), (p, n) => {
        fc.pre(n <= p);
        const all = Array.from({ length: n }, (_, i) => ownedPartitions(p, i, n))
          .flat()
          .sort((a, b) => a - b);
        expect(all).toEqual(Array.from({ length: p }, (_, i) => i));
      }),
    );
  });

  it('refuses impossible settings with a clear message', () => {
    expect(() => ownedPartitions(4, 0, 5)).toThrow(
      /instance count must be between 1 and the partition count \(4\), got 5/,
    );
    expect(() => ownedPartitions(4, 2, 2)).toThrow(/instance index must be between 0 and 1, got 2/);
  });
});

describe('ownedPartitionsFromEnv', () => {
  it('reads the ownership variables with their defaults, and gives up on invalid ones', () => {
    expect(
      ownedPartitionsFromEnv({ PARTITION_COUNT: '8', INSTANCE_INDEX: '1', INSTANCE_COUNT: '2' }),
    ).toEqual([1, 3, 5, 7]);
    expect(ownedPartitionsFromEnv({})).toHaveLength(16);
    expect(ownedPartitionsFromEnv({ PARTITION_COUNT: 'x' })).toBeUndefined();
  });
});
