import { describe, expect, it } from 'vitest';
import { TurnClock } from '../src/index.js';

describe('TurnClock', () => {
  const clock = () => new TurnClock(0, undefined, () => Promise.resolve());

  it('keeps the lowest and highest position of everything the turn reported', () => {
    const c = clock();
    expect(c.positions).toBeUndefined();
    c.addEvents(2, { first: 10n, last: 12n });
    c.addEvents(1);
    c.addEvents(3, { first: 4n, last: 9n });
    c.addEvents(1, { first: 30n, last: 30n });
    expect(c.events).toBe(7);
    expect(c.positions).toEqual({ first: 4n, last: 30n });
  });

  it('has no trace id without a traced scope', () => {
    expect(clock().traceId).toBeUndefined();
    const traced = new TurnClock(
      0,
      { outgoingHeaders: {}, traceId: 'ab'.repeat(16), dependency: (_d, w) => w(), end: () => undefined },
      () => Promise.resolve(),
    );
    expect(traced.traceId).toBe('ab'.repeat(16));
  });
});
