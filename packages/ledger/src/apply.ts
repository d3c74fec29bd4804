import { Direction, Outcome, type EnrichedEvent, type Result } from '@throughline/contracts';
import { fitsInt64 } from './money.js';
import { RejectReason, type AccountState } from './types.js';

const MS_PER_DAY = 86_400_000n;
/** The ledger stores amounts as PostgreSQL `bigint`. */
const storable = (...values: bigint[]): boolean => values.every(fitsInt64);

/** The UTC day (days since the Unix epoch) of a timestamp in milliseconds. */
export function utcDayOf(epochMs: bigint): number {
  const day = epochMs >= 0n ? epochMs / MS_PER_DAY : -((-epochMs + MS_PER_DAY - 1n) / MS_PER_DAY);
  return Number(day);
}

export interface Decision {
  state: AccountState;
  result: Result;
}

/**
 * Applies one enriched event to its account's state and decides its outcome. Pure and deterministic: it reads no
 * clock (the day comes from the event's `occurred_at`), so replaying a batch gives the same decisions.
 *
 * Rules, in order: unknown tenant, disabled tenant, unknown currency, then for debits the daily debit limit
 * (`daily_debit_limit_minor` ≤ 0 means no limit; the tally counts converted amounts before fees) and the
 * overdraft limit (the balance after amount and fee may not go below `-overdraft_limit_minor`). Credits add the
 * converted amount less the fee. Last, an event that would take an amount the ledger stores beyond a signed 64-bit
 * integer is rejected. A rejected event leaves the balance as it was but still advances the position.
 *
 * A late debit from a day before the account's current tally day is counted against the current day, which can
 * only reject more, never less.
 */
export function applyEvent(state: AccountState, enriched: EnrichedEvent): Decision {
  const event = enriched.event;
  if (event === undefined) throw new TypeError('enriched event without its event');
  const config = enriched.config;
  const day = utcDayOf(event.occurredAtMs);
  const tallyDay = day > state.debitsDay ? day : state.debitsDay;
  const tally = day > state.debitsDay ? 0n : state.debitsDayMinor;

  let reason: RejectReason | undefined;
  let delta = 0n;
  let newTally = tally;
  if (config === undefined || !config.tenantKnown) reason = RejectReason.unknownTenant;
  else if (!config.enabled) reason = RejectReason.tenantDisabled;
  else if (!enriched.fxKnown) reason = RejectReason.unknownCurrency;
  else if (enriched.outOfRange) reason = RejectReason.outOfRange;
  else if (event.direction === Direction.DIRECTION_DEBIT) {
    newTally = tally + enriched.baseAmountMinor;
    delta = -(enriched.baseAmountMinor + enriched.feeMinor);
    if (config.dailyDebitLimitMinor > 0n && newTally > config.dailyDebitLimitMinor) {
      reason = RejectReason.dailyLimitExceeded;
    } else if (state.balanceMinor + delta < -config.overdraftLimitMinor) {
      reason = RejectReason.overdraftLimitExceeded;
    }
  } else {
    delta = enriched.baseAmountMinor - enriched.feeMinor;
  }
  // Last, so that an event beyond a limit keeps its limit's reason. (The amount and fee themselves fit: enrich
  // marks an event whose do not as `outOfRange`, above.)
  if (reason === undefined && !storable(delta, state.balanceMinor + delta, newTally))
    reason = RejectReason.outOfRange;

  const applied = reason === undefined;
  const next: AccountState = {
    balanceMinor: applied ? state.balanceMinor + delta : state.balanceMinor,
    position: enriched.position,
    debitsDay: tallyDay,
    debitsDayMinor: applied ? newTally : tally,
  };
  return {
    state: next,
    result: {
      eventId: event.eventId,
      accountId: event.accountId,
      tenantId: event.tenantId,
      position: enriched.position,
      outcome: applied ? Outcome.OUTCOME_APPLIED : Outcome.OUTCOME_REJECTED,
      rejectReason: reason ?? '',
      deltaMinor: applied ? delta : 0n,
      feeMinor: applied ? enriched.feeMinor : 0n,
      balanceAfterMinor: next.balanceMinor,
      configVersion: config?.version ?? 0n,
      direction: event.direction,
      amountMinor: event.amountMinor,
      currency: event.currency,
      occurredAtMs: event.occurredAtMs,
      acceptedAtMs: enriched.acceptedAtMs,
      debitsDay: next.debitsDay,
      debitsDayMinor: next.debitsDayMinor,
    },
  };
}
