/** Types of the ledger domain. Wire types come from @throughline/contracts; these are the domain's own. */

/** What the state stage keeps per account (in memory, in Redis, and rebuilt from PostgreSQL). */
export interface AccountState {
  /** Balance in the tenant's base currency, minor units. */
  balanceMinor: bigint;
  /** Position of the last event applied or rejected on this account; 0n before the first. */
  position: bigint;
  /** UTC day (days since the Unix epoch) that `debitsDayMinor` counts. */
  debitsDay: number;
  /** Sum of applied debits (base currency, before fees) on `debitsDay`. */
  debitsDayMinor: bigint;
}

export const EMPTY_ACCOUNT: Readonly<AccountState> = Object.freeze({
  balanceMinor: 0n,
  position: 0n,
  debitsDay: 0,
  debitsDayMinor: 0n,
});

/** Stable reasons for a rejection; they are stored in the ledger and counted by the demo. */
export const RejectReason = {
  unknownTenant: 'UNKNOWN_TENANT',
  tenantDisabled: 'TENANT_DISABLED',
  unknownCurrency: 'UNKNOWN_CURRENCY',
  dailyLimitExceeded: 'DAILY_LIMIT_EXCEEDED',
  overdraftLimitExceeded: 'OVERDRAFT_LIMIT_EXCEEDED',
  /**
   * Applying it would take the balance, the converted amount, its fee or the day's debits beyond what the ledger
   * stores (a signed 64-bit integer of minor units). Without it, the writer's commit would fail on the whole batch.
   */
  outOfRange: 'OUT_OF_RANGE',
} as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];
