/**
 * The per-account state the state stage keeps. Structurally the ledger's `AccountState`; imported from there so
 * the two never drift.
 */
export type { AccountState } from '@throughline/ledger';
