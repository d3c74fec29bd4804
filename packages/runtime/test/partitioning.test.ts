import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { instanceIdOf, ownedPartitions } from '../src/index.js';

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

describe('instanceIdOf', () => {
  it('names the instance after INSTANCE_ID or its host, keeps it a valid key, and never repeats it', () => {
    const a = instanceIdOf('state', { HOSTNAME: 'throughline-state-7d9f.local' });
    expect(a).toMatch(/^state-throughline-state-7d9f-local-[0-9a-f]{6}$/);
    expect(instanceIdOf('state', { HOSTNAME: 'throughline-state-7d9f.local' })).not.toBe(a);
    expect(instanceIdOf('writer', { INSTANCE_ID: 'w 1/α' })).toMatch(/^w-1---[0-9a-f]{6}$/);
  });
});
