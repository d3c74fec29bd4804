import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { partitionOf } from '../src/index.js';

describe('partitionOf', () => {
  it('is stable: known keys map to known partitions (FNV-1a over UTF-8)', () => {
    // Reference values: FNV-1a 32-bit of the UTF-8 bytes, modulo 16.
    expect(partitionOf('', 16)).toBe(0x811c9dc5 % 16);
    expect(partitionOf('a', 1 << 30)).toBe(0xe40c292c % (1 << 30));
    expect(partitionOf('é', 1 << 30)).toBe(partitionOf('\u00e9', 1 << 30));
  });

  it('hashes non-ASCII keys over their UTF-8 bytes', () => {
    const fnv = (bytes: Uint8Array): number => {
      let h = 0x811c9dc5;
      for (const b of bytes) h = Math.imul(h ^ b, 0x01000193);
      return h >>> 0;
    };
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (key) => {
        expect(partitionOf(key, 1_000_003)).toBe(fnv(new TextEncoder().encode(key)) % 1_000_003);
      }),
    );
  });

  it('spreads keys over partitions', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf(`acc-${i}`, 16)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});
