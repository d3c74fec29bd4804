import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Direction, EnrichedEvent, Outcome, type Event, type TenantConfig } from '@throughline/contracts';
import {
  applyEvent,
  divRound,
  EMPTY_ACCOUNT,
  enrichEvent,
  RejectReason,
  utcDayOf,
  type AccountState,
} from '../src/index.js';

const DAY = 86_400_000n;

function tenant(overrides: Partial<TenantConfig> = {}): TenantConfig {
  return {
    tenantId: 't1',
    version: 7n,
    enabled: true,
    baseCurrency: 'EUR',
    feeBps: 25,
    fxRatesE9: { USD: 900_000_000n, GBP: 1_150_000_000n },
    dailyDebitLimitMinor: 100_000n,
    overdraftLimitMinor: 5_000n,
    updatedAtMs: 0n,
    ...overrides,
  };
}

function event(overrides: Partial<Event> = {}): Event {
  return {
    eventId: 'e1',
    accountId: 'a1',
    tenantId: 't1',
    direction: Direction.DIRECTION_CREDIT,
    amountMinor: 10_000n,
    currency: 'EUR',
    occurredAtMs: 20_000n * DAY,
    attributes: {},
    ...overrides,
  };
}

describe('enrichEvent', () => {
  it('converts to the base currency and charges the fee in basis points', () => {
    const e = enrichEvent(event({ currency: 'USD', amountMinor: 10_000n }), 5n, 1n, tenant());
    expect(e.fxKnown).toBe(true);
    expect(e.baseAmountMinor).toBe(9_000n);
    expect(e.feeMinor).toBe(23n); // 9000 * 25 / 10000 = 22.5 → 23
    expect(e.config?.version).toBe(7n);
    expect(e.position).toBe(5n);
  });

  it('marks an unknown currency and an unknown tenant', () => {
    expect(enrichEvent(event({ currency: 'JPY' }), 1n, 1n, tenant()).fxKnown).toBe(false);
    expect(enrichEvent(event(), 1n, 1n, undefined).config?.tenantKnown).toBe(false);
  });

  it('rounds half away from zero', () => {
    expect(divRound(5n, 2n)).toBe(3n);
    expect(divRound(-5n, 2n)).toBe(-3n);
    expect(divRound(4n, 3n)).toBe(1n);
  });
});

describe('applyEvent', () => {
  const cfg = tenant();
  const apply = (state: AccountState, e: Event, position = 1n) =>
    applyEvent(state, enrichEvent(e, position, 0n, e.tenantId === 't1' ? cfg : undefined));

  it('applies a credit less its fee', () => {
    const { state, result } = apply(EMPTY_ACCOUNT, event({ amountMinor: 10_000n }));
    expect(result.outcome).toBe(Outcome.OUTCOME_APPLIED);
    expect(result.deltaMinor).toBe(9_975n);
    expect(state.balanceMinor).toBe(9_975n);
    expect(state.position).toBe(1n);
  });

  it.each([
    ['unknown tenant', event({ tenantId: 'nope' }), RejectReason.unknownTenant],
    ['unknown currency', event({ currency: 'JPY' }), RejectReason.unknownCurrency],
    [
      'overdraft',
      event({ direction: Direction.DIRECTION_DEBIT, amountMinor: 6_000n }),
      RejectReason.overdraftLimitExceeded,
    ],
    [
      'daily limit',
      event({ direction: Direction.DIRECTION_DEBIT, amountMinor: 100_001n }),
      RejectReason.dailyLimitExceeded,
    ],
  ])('rejects %s with a reason and leaves the balance', (_name, e, reason) => {
    const { state, result } = apply(EMPTY_ACCOUNT, e, 9n);
    expect(result.outcome).toBe(Outcome.OUTCOME_REJECTED);
    expect(result.rejectReason).toBe(reason);
    expect(result.deltaMinor).toBe(0n);
    expect(state.balanceMinor).toBe(0n);
    expect(state.position).toBe(9n);
  });

  it('rejects an event that would take an amount the ledger stores beyond a signed 64-bit integer', () => {
    const max = 2n ** 63n - 1n;
    // A credit past the largest balance.
    const rich: AccountState = { ...EMPTY_ACCOUNT, balanceMinor: max - 5_000n, position: 3n };
    const over = apply(rich, event({ amountMinor: 10_000n }), 4n);
    expect(over.result.rejectReason).toBe(RejectReason.outOfRange);
    expect(over.result.deltaMinor).toBe(0n);
    expect(over.state.balanceMinor).toBe(max - 5_000n);
    expect(over.state.position).toBe(4n);
    // The same credit fits a smaller balance.
    expect(
      apply({ ...rich, balanceMinor: max - 9_975n }, event({ amountMinor: 10_000n }), 4n).state.balanceMinor,
    ).toBe(max);
    // A conversion rate that makes the converted amount itself too large, credit or debit: enrich marks it (its
    // amounts would not encode as int64, and the enrich stage would retry the encoding for ever), and the event
    // is rejected.
    const huge = tenant({
      fxRatesE9: { USD: 10n ** 25n },
      dailyDebitLimitMinor: 0n,
      overdraftLimitMinor: 0n,
    });
    for (const direction of [Direction.DIRECTION_CREDIT, Direction.DIRECTION_DEBIT]) {
      const e = event({ currency: 'USD', amountMinor: 10n ** 12n, direction });
      const enriched = enrichEvent(e, 5n, 0n, huge);
      expect(enriched).toMatchObject({ outOfRange: true, baseAmountMinor: 0n, feeMinor: 0n });
      expect(() => EnrichedEvent.encode(enriched).finish()).not.toThrow();
      const r = applyEvent(rich, enriched);
      expect(r.result.rejectReason).toBe(RejectReason.outOfRange);
      expect(r.state.balanceMinor).toBe(rich.balanceMinor);
    }
    // A small amount at the same rate still fits, and is converted as usual.
    expect(enrichEvent(event({ currency: 'USD', amountMinor: 1n }), 6n, 0n, huge).outOfRange).toBe(false);
  });

  it('rejects events of a disabled tenant', () => {
    const r = applyEvent(EMPTY_ACCOUNT, enrichEvent(event(), 1n, 0n, tenant({ enabled: false })));
    expect(r.result.rejectReason).toBe(RejectReason.tenantDisabled);
  });

  it('resets the daily debit tally on a new UTC day', () => {
    const start: AccountState = { balanceMinor: 1_000_000n, position: 0n, debitsDay: 0, debitsDayMinor: 0n };
    const debit = (amountMinor: bigint, occurredAtMs: bigint) =>
      event({ direction: Direction.DIRECTION_DEBIT, amountMinor, occurredAtMs });
    const first = apply(start, debit(90_000n, 20_000n * DAY));
    expect(first.result.outcome).toBe(Outcome.OUTCOME_APPLIED);
    const second = apply(first.state, debit(20_000n, 20_000n * DAY + 5n), 2n);
    expect(second.result.rejectReason).toBe(RejectReason.dailyLimitExceeded);
    const nextDay = apply(second.state, debit(20_000n, 20_001n * DAY), 3n);
    expect(nextDay.result.outcome).toBe(Outcome.OUTCOME_APPLIED);
    expect(nextDay.state.debitsDayMinor).toBe(20_000n);
  });

  it('computes UTC days for negative timestamps', () => {
    expect(utcDayOf(-1n)).toBe(-1);
    expect(utcDayOf(0n)).toBe(0);
    expect(utcDayOf(DAY - 1n)).toBe(0);
  });
});

describe('ledger invariants (property-based)', () => {
  const configArb = fc.record({
    feeBps: fc.integer({ min: 0, max: 500 }),
    dailyDebitLimitMinor: fc.bigInt({ min: 0n, max: 1_000_000n }),
    overdraftLimitMinor: fc.bigInt({ min: 0n, max: 100_000n }),
    enabled: fc.boolean(),
  });
  const eventArb = fc.record({
    direction: fc.constantFrom(Direction.DIRECTION_DEBIT, Direction.DIRECTION_CREDIT),
    amountMinor: fc.bigInt({ min: 1n, max: 500_000n }),
    currency: fc.constantFrom('EUR', 'USD', 'GBP', 'JPY'),
    dayOffset: fc.integer({ min: 0, max: 3 }),
    msInDay: fc.integer({ min: 0, max: 86_399_999 }),
  });

  it('keeps balance = sum of applied deltas, never below the overdraft limit, within the daily limit', () => {
    fc.assert(
      fc.property(configArb, fc.array(eventArb, { maxLength: 200 }), (c, specs) => {
        const cfg = tenant(c);
        let state: AccountState = EMPTY_ACCOUNT;
        let sum = 0n;
        let position = 0n;
        let day = 20_000;
        for (const [i, s] of specs.entries()) {
          day += s.dayOffset === 3 ? 1 : 0; // time mostly moves forward, sometimes to the next day
          position += BigInt(1 + (i % 3));
          const occurredAtMs = BigInt(day) * DAY + BigInt(s.msInDay);
          const e = event({ ...s, eventId: `e${i}`, occurredAtMs });
          const before = state;
          const { state: next, result } = applyEvent(state, enrichEvent(e, position, 0n, cfg));
          expect(next.position).toBe(position);
          expect(next.position > before.position).toBe(true);
          if (result.outcome === Outcome.OUTCOME_APPLIED) {
            sum += result.deltaMinor;
            expect(next.balanceMinor).toBe(before.balanceMinor + result.deltaMinor);
            if (e.direction === Direction.DIRECTION_DEBIT) {
              expect(next.balanceMinor >= -cfg.overdraftLimitMinor).toBe(true);
              if (cfg.dailyDebitLimitMinor > 0n)
                expect(next.debitsDayMinor <= cfg.dailyDebitLimitMinor).toBe(true);
            }
          } else {
            expect(result.rejectReason).not.toBe('');
            expect(next.balanceMinor).toBe(before.balanceMinor);
            expect(result.deltaMinor).toBe(0n);
          }
          expect(result.balanceAfterMinor).toBe(next.balanceMinor);
          expect(next.balanceMinor).toBe(sum);
          state = next;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('is deterministic: replaying the same events gives the same results', () => {
    fc.assert(
      fc.property(configArb, fc.array(eventArb, { maxLength: 50 }), (c, specs) => {
        const cfg = tenant(c);
        const run = () => {
          let state: AccountState = EMPTY_ACCOUNT;
          return specs.map((s, i) => {
            const e = event({ ...s, eventId: `e${i}`, occurredAtMs: 20_000n * DAY + BigInt(s.msInDay) });
            const d = applyEvent(state, enrichEvent(e, BigInt(i + 1), 0n, cfg));
            state = d.state;
            return d.result;
          });
        };
        expect(run()).toEqual(run());
      }),
      { numRuns: 100 },
    );
  });
});

describe('LedgerWorkload', () => {
  it('is deterministic for a seed and skews keys toward the hot ranks', async () => {
    const { LedgerWorkload } = await import('../src/index.js');
    const a = new LedgerWorkload({ seed: 7, accounts: 100, skew: 1 }).take(2000);
    const b = new LedgerWorkload({ seed: 7, accounts: 100, skew: 1 }).take(2000);
    expect(a).toEqual(b);
    const hot = a.filter((e) => e.accountId === 'acc-0').length;
    const cold = a.filter((e) => e.accountId === 'acc-99').length;
    expect(hot).toBeGreaterThan(cold * 10);
    expect(new Set(a.map((e) => e.eventId)).size).toBe(2000);
  });
});
