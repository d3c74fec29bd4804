/**
 * What the stages and the config service need from the outside world, as interfaces: @throughline/stores implements
 * them over Redis and PostgreSQL; the embedded mode implements the stages' in memory and over an embedded PostgreSQL.
 */
import type { Result, TenantConfig } from '@throughline/contracts';
import type { AccountState } from '@throughline/ledger';

/**
 * Marks the life of a partition's data in the state cache (a missing marker means the cache lost its data) and
 * carries the partition's fences.
 */
export interface StateMarker {
  createdAtMs: number;
  /** When the partition's state was last rebuilt after a loss; null when it never was. */
  recoveredAtMs: number | null;
  /** The lease epoch of the state instance that last claimed the partition. */
  owner: number;
  /** The highest lease epoch of the enrich instances whose output was applied. */
  upstream: number;
  /** The highest position applied in the partition: lower than what was written, the store lost writes. */
  highWater: bigint;
}

export interface StateReadResult {
  marker: StateMarker | undefined;
  accounts: Map<string, AccountState>;
  /**
   * The positions of the claims refused: their event's id is held by another occurrence (another position, in any
   * partition, or earlier in the same claims) within the de-duplication horizon. They must not be applied.
   */
  taken: Set<bigint>;
}

/**
 * An event whose id the state stage claims before applying it. Event ids are unique across the deployment and a
 * position across every partition, so a claim holding another position is another occurrence of the id: a client
 * retry, or the id reused on another account (of any partition) — even one still in flight.
 */
export interface EventClaim {
  eventId: string;
  position: bigint;
  /**
   * For an event redriven from a dead letter of the state stage: the position it had then. Its claim (made before
   * it failed) holds that position; it passes to the new one.
   */
  redrivenFrom?: bigint;
}

/**
 * The fences of a state write: the writer's lease epoch, and the newest enrich epoch its input came from; and the
 * partition's high-water position after it.
 */
export interface StateFence {
  epoch: number;
  upstream: number;
  highWater: bigint;
}

/**
 * The fast store behind the in-memory state (Redis): one round trip per turn to read (and claim the turn's event
 * ids), one to write. Writes are fenced: refused (a fenced error) under an older epoch than the partition's last
 * claim, and refused (a transient error, retried after a rebuild) while the partition has no marker.
 */
export interface StateStore {
  /**
   * The partition's marker and the accounts asked for; and claims the events' ids, in one map for every partition:
   * an id not claimed yet is claimed for the event's position, and the ids another position holds are `taken`.
   */
  read(
    partition: number,
    accountIds: string[],
    claims: readonly EventClaim[],
    nowMs: number,
  ): Promise<StateReadResult>;
  /** Stores the accounts and the partition's fences (owner, upstream, high-water), atomically. */
  write(partition: number, fence: StateFence, accounts: Map<string, AccountState>): Promise<void>;
  /** Refuses the writes of older epochs from now on (when the partition has a marker); fenced if a newer one claimed it. */
  claim(partition: number, epoch: number): Promise<void>;
  /**
   * Writes the marker unless one exists (then raises its owner) and returns the one stored. A new marker starts at
   * `highWater` (default 0).
   */
  initMarker(
    partition: number,
    recoveredAtMs: number | null,
    nowMs: number,
    owner: number,
    highWater?: bigint,
  ): Promise<StateMarker>;
  /**
   * Forgets the partition's state (marker first, then accounts), as a loss would. The claims of event ids stay: each
   * names the position its event holds, which stays true.
   */
  reset(partition: number): Promise<void>;
}

/** Where an event id was committed: its ledger row's account and position. */
export interface CommittedEvent {
  accountId: string;
  position: bigint;
}

/** The committed truth (PostgreSQL), read only to rebuild what the state store lost. */
export interface CommittedState {
  loadAccounts(accountIds: string[]): Promise<Map<string, AccountState>>;
  /** The committed ledger rows of these event ids: which account and position each was committed for. */
  committedEvents(eventIds: string[]): Promise<Map<string, CommittedEvent>>;
  hasCommittedRows(partition: number): Promise<boolean>;
  /** The highest position committed for the partition (0 before any). */
  committedHighWater(partition: number): Promise<bigint>;
}

/**
 * The fences of a commit: partition, the writer's lease epoch, the newest state epoch of its results; and the
 * writer turn's trace id, kept with each row it inserts.
 */
export interface CommitFence {
  partition: number;
  epoch: number;
  upstream: number;
  traceId?: string;
}

/** Where results are committed: one transaction per call, fenced. */
export interface ResultSink {
  /** Refuses commits of older writer epochs from now on; returns the newest state epoch committed. */
  claim(partition: number, epoch: number): Promise<{ upstream: number }>;
  /** Commits, or refuses with a fenced error when a newer writer epoch owns the partition. */
  commitBatch(fence: CommitFence, results: Result[]): Promise<{ inserted: number; duplicates: number }>;
}

/** A configuration to store: everything but what the store assigns (version and update time). */
export type TenantConfigInput = Omit<TenantConfig, 'version' | 'updatedAtMs'>;

/**
 * Where the tenants' configuration is kept (PostgreSQL), as the config service uses it. Versions are drawn from
 * one sequence before commit, so a change may commit after one with a higher version.
 */
export interface ConfigRepository {
  /** Every tenant's current configuration, and the largest version among them (0n when there are none). */
  list(): Promise<{ configs: TenantConfig[]; version: bigint }>;
  /** The tenant's current configuration, or undefined when it has none. */
  get(tenantId: string): Promise<TenantConfig | undefined>;
  /**
   * Stores a new version of a tenant's configuration, recording who changed it, and notifies the listeners.
   * Rejects with an error whose `poison` is true when the configuration itself is invalid.
   */
  put(config: TenantConfigInput, opts?: { changedBy?: string }): Promise<TenantConfig>;
  /**
   * Calls `onChange` for every change committed from now on, until the returned function is called. Notifications
   * can be lost while the listening connection is down: `onResync` is called once it listens again.
   */
  listen(
    onChange: (tenantId: string, version: bigint) => void,
    opts?: { onResync?: () => void; onError?: (err: Error) => void; reconnectDelayMs?: number },
  ): Promise<() => Promise<void>>;
}
