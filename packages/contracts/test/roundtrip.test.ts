import { describe, expect, it } from 'vitest';
import { Direction, EventBatch, ResultBatch, Outcome } from '../src/index.js';

describe('contracts', () => {
  it('keeps int64 amounts and positions exact through encode and decode', () => {
    const big = 9_223_372_036_854_775_807n;
    const bytes = EventBatch.encode({
      batchId: 'b-1',
      partition: 7,
      acceptedAtMs: 1_700_000_000_123n,
      events: [
        {
          eventId: 'e-1',
          accountId: 'acc-1',
          tenantId: 't-1',
          direction: Direction.DIRECTION_DEBIT,
          amountMinor: big,
          currency: 'EUR',
          occurredAtMs: 1_700_000_000_000n,
          attributes: { channel: 'card' },
        },
      ],
      redrivenFrom: [big],
    }).finish();
    const back = EventBatch.decode(bytes);
    expect(back.events[0]?.amountMinor).toBe(big);
    expect(back.redrivenFrom).toEqual([big]);
    expect(back.events[0]?.attributes).toEqual({ channel: 'card' });
    expect(back.acceptedAtMs).toBe(1_700_000_000_123n);
  });

  it('keeps negative int64 deltas exact', () => {
    const bytes = ResultBatch.encode({
      batchId: 'r',
      partition: 1,
      producerEpoch: 9_007_199_254_740_991n,
      results: [
        {
          eventId: 'e',
          accountId: 'a',
          tenantId: 't',
          position: (1n << 50n) + 3n,
          outcome: Outcome.OUTCOME_APPLIED,
          rejectReason: '',
          deltaMinor: -9_007_199_254_740_993n,
          feeMinor: 0n,
          balanceAfterMinor: -9_007_199_254_740_993n,
          configVersion: 3n,
          direction: Direction.DIRECTION_DEBIT,
          amountMinor: 9_007_199_254_740_993n,
          currency: 'EUR',
          occurredAtMs: 0n,
          acceptedAtMs: 0n,
          debitsDay: 20_000,
          debitsDayMinor: 9_007_199_254_740_993n,
        },
      ],
    }).finish();
    const back = ResultBatch.decode(bytes);
    expect(back.results[0]?.deltaMinor).toBe(-9_007_199_254_740_993n);
    expect(back.results[0]?.position).toBe((1n << 50n) + 3n);
    expect(back.results[0]?.debitsDayMinor).toBe(9_007_199_254_740_993n);
    expect(back.producerEpoch).toBe(9_007_199_254_740_991n);
  });
});
