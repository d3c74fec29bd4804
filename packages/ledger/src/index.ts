/**
 * @throughline/ledger — the reference domain: account transactions against tenant configuration.
 *
 * Pure functions only (no I/O, no clock), so stages can replay a batch and get the same decisions, and a team can
 * swap in its own domain with the same shape: `enrichEvent` (configuration → enriched event) and `applyEvent`
 * (state + enriched event → new state + result).
 *
 * ```ts
 * import { applyEvent, enrichEvent, EMPTY_ACCOUNT } from '@throughline/ledger';
 * const enriched = enrichEvent(event, position, acceptedAtMs, tenantConfig);
 * const { state, result } = applyEvent(EMPTY_ACCOUNT, enriched);
 * ```
 */
export { EMPTY_ACCOUNT, RejectReason, type AccountState } from './types.js';
export { appliedConfigOf, enrichEvent, rateToBase } from './enrich.js';
export { applyEvent, utcDayOf, type Decision } from './apply.js';
export { convert, divRound, feeOf, PARITY_RATE_E9 } from './money.js';
export { LedgerWorkload, seededRandom, type WorkloadOptions } from './workload.js';
