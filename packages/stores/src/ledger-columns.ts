/** What the ledger's columns hold of a result, written alike by the PostgreSQL sink and the embedded mode's. */
import { Direction, Outcome, type Result } from '@throughline/contracts';
import { StoreError, StoreErrorCode } from './errors.js';

const OUTCOMES: ReadonlyMap<Outcome, string> = new Map([
  [Outcome.OUTCOME_APPLIED, 'APPLIED'],
  [Outcome.OUTCOME_REJECTED, 'REJECTED'],
]);
const DIRECTIONS: ReadonlyMap<Direction, string> = new Map([
  [Direction.DIRECTION_DEBIT, 'DEBIT'],
  [Direction.DIRECTION_CREDIT, 'CREDIT'],
]);

/**
 * The `outcome` and `direction` columns of a result's ledger row. A result without either can never be committed:
 * it is refused as invalid input.
 */
export function ledgerNamesOf(result: Result): { outcome: string; direction: string } {
  const outcome = OUTCOMES.get(result.outcome);
  if (outcome === undefined)
    throw new StoreError(
      StoreErrorCode.invalidInput,
      `result ${result.eventId} has no outcome (${result.outcome})`,
    );
  const direction = DIRECTIONS.get(result.direction);
  if (direction === undefined)
    throw new StoreError(
      StoreErrorCode.invalidInput,
      `result ${result.eventId} has no direction (${result.direction})`,
    );
  return { outcome, direction };
}

/**
 * The trace id a commit stores with its rows: the fence's when it is one (32 hex digits, not all zero), else none
 * (NULL).
 */
export function ledgerTraceId(fence: { traceId?: string }): string | undefined {
  const id = fence.traceId;
  return id !== undefined && /^[0-9a-f]{32}$/.test(id) && !/^0+$/.test(id) ? id : undefined;
}
