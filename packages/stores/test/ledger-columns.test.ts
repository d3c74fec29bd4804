import { describe, expect, it } from 'vitest';
import { Direction, Outcome } from '@throughline/contracts';
import { isStoreError, ledgerNamesOf, ledgerTraceId, StoreErrorCode } from '../src/index.js';
import { result } from './fixtures.js';

describe('ledger columns', () => {
  it("names a result's outcome and direction as the ledger's columns hold them", () => {
    const rejectedDebit = result({
      outcome: Outcome.OUTCOME_REJECTED,
      direction: Direction.DIRECTION_DEBIT,
    });
    expect(ledgerNamesOf(rejectedDebit)).toEqual({ outcome: 'REJECTED', direction: 'DEBIT' });
    expect(ledgerNamesOf(result({ direction: Direction.DIRECTION_CREDIT }))).toMatchObject({
      direction: 'CREDIT',
    });
  });

  it('refuses a result without an outcome or a direction as invalid input, naming it', () => {
    for (const broken of [
      result({ eventId: 'e1', outcome: Outcome.OUTCOME_UNSPECIFIED }),
      result({ eventId: 'e1', direction: Direction.DIRECTION_UNSPECIFIED }),
    ]) {
      let thrown: unknown;
      try {
        ledgerNamesOf(broken);
      } catch (err) {
        thrown = err;
      }
      expect(isStoreError(thrown, StoreErrorCode.invalidInput)).toBe(true);
      expect((thrown as Error).message).toMatch(/^result e1 has no (outcome|direction) \(0\)$/);
    }
  });

  it('keeps a trace id only when it is one', () => {
    expect(ledgerTraceId({ traceId: 'ab'.repeat(16) })).toBe('ab'.repeat(16));
    for (const traceId of [undefined, '0'.repeat(32), 'AB'.repeat(16), 'ab'])
      expect(ledgerTraceId(traceId === undefined ? {} : { traceId })).toBeUndefined();
  });
});
