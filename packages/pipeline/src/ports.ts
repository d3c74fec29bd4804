/**
 * What the stages need from the outside world, as interfaces: @throughline/stores implements them over Redis and
 * PostgreSQL; the embedded mode implements them in memory and over an embedded PostgreSQL.
 */
import type { Result } from '@throughline/contracts';
import type { AccountState } from '@throughline/ledger';

/** Marks the life of a partition's data in the state cache: a missing epoch means the cache lost its data. */
export interface StateEpoch {
  createdAtMs: number;
  /** When the partition's state was last rebuilt after a loss; null when it never was. */
  recoveredAtMs: number | null;
}

export interface StateReadResult {
  epoch: StateEpoch | undefined;
  accounts: Map<string, AccountState>;
  /** The event ids among those asked for that were already applied within the de-duplication horizon. */
  seen: Set<string>;
}

/** The fast store behind the in-memory state (Redis): one round trip per turn to read, one to write. */
export interface StateStore {
  read(partition: number, accountIds: string[], eventIds: string[], nowMs: number): Promise<StateReadResult>;
  write(
    partition: number,
    accounts: Map<string, AccountState>,
    appliedEventIds: string[],
    nowMs: number,
  ): Promise<void>;
  initEpoch(partition: number, recoveredAtMs: number | null, nowMs: number): Promise<StateEpoch>;
}

/** The committed truth (PostgreSQL), read only to rebuild what the state store lost. */
export interface CommittedState {
  loadAccounts(accountIds: string[]): Promise<Map<string, AccountState>>;
  committedEventIds(eventIds: string[]): Promise<Set<string>>;
  hasCommittedRows(partition: number): Promise<boolean>;
}

/** Where results are committed: one transaction per call. */
export interface ResultSink {
  commitBatch(partition: number, results: Result[]): Promise<{ inserted: number; duplicates: number }>;
}

/**
 * Account state kept in the datastore and touched per event (the naive design): `lock` opens a transaction and
 * reads the account `FOR UPDATE`; the handle commits the new state (an upsert) or rolls back.
 */
export interface AccountTransactions {
  lock(accountId: string): Promise<LockedAccount>;
}

export interface LockedAccount {
  /** The stored state, undefined for an account never seen. */
  readonly state: AccountState | undefined;
  commit(next: AccountState | undefined): Promise<void>;
  rollback(): Promise<void>;
}
