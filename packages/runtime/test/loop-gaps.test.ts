import { describe, expect, it } from 'vitest';
import { waitFor } from '@throughline/testkit';
import { LoopGaps } from '../src/ownership/loop-gaps.js';

describe('LoopGaps', () => {
  it('keeps the gaps between late ticks and tells the longest within a window', () => {
    let now = 1_000;
    const gaps = new LoopGaps({ tickMs: 20, keepMs: 10_000, now: () => now });
    gaps.start();
    gaps.stop(); // ticked by hand below
    const tickAt = (ms: number): void => {
      now = ms;
      gaps.tick();
    };
    tickAt(1_020);
    tickAt(1_040);
    tickAt(1_340); // stood still 300 ms
    tickAt(1_360);
    tickAt(2_060); // stood still 700 ms
    tickAt(2_080);
    expect(gaps.longestWithin(1_000, 1_360)).toBe(300);
    expect(gaps.longestWithin(1_100, 1_200)).toBe(100); // only the part within the window
    expect(gaps.longestWithin(1_000, 2_080)).toBe(700);
    expect(gaps.longestWithin(2_070, 2_080)).toBe(0);
    // A tick a little late (under two ticks) is no gap.
    tickAt(2_115);
    expect(gaps.longestWithin(2_080, 2_115)).toBe(0);
    // The gap still open (the loop blocked until now) counts up to now.
    now = 2_615;
    expect(gaps.longestWithin(2_100, 2_615)).toBe(500);
    // Older gaps are let go.
    tickAt(20_000);
    expect(gaps.longestWithin(1_000, 2_080)).toBe(0);
  });

  it('sees the loop blocked by a synchronous stretch', async () => {
    const gaps = new LoopGaps({ tickMs: 10 });
    gaps.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const from = Date.now();
      const until = from + 200;
      while (Date.now() < until) {
        // the loop stands still
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(gaps.longestWithin(from, Date.now())).toBeGreaterThanOrEqual(180);
    } finally {
      gaps.stop();
    }
  });

  it("keeps the garbage collector's pauses", async () => {
    const gaps = new LoopGaps();
    gaps.start();
    try {
      const from = Date.now();
      let kept: unknown[] = [];
      // Enough short-lived garbage for the collector to run; its pauses reach the observer asynchronously.
      await waitFor(() => {
        for (let i = 0; i < 200_000; i++) kept.push({ i, s: String(i) });
        kept = kept.slice(-10_000);
        return gaps.gcWithin(from, Date.now()) > 0;
      });
      expect(gaps.gcWithin(from - 10_000, from)).toBe(0);
    } finally {
      gaps.stop();
    }
  });
});
