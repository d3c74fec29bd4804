/**
 * The state stage's fast store in embedded mode: what Redis holds in distributed mode (account states, recently
 * applied event ids, the partition's epoch), in this process's memory. It lives as long as the process; a new
 * process starts without an epoch, so the state stage rebuilds from the embedded database what it needs, exactly
 * as it does after a loss of Redis.
 */
import type { AccountState } from '@throughline/ledger';
import type { StateEpoch, StateReadResult, StateStore } from '@throughline/pipeline';
import { EmbeddedError, EmbeddedErrorCode } from '../errors.js';

export interface MemoryStateStoreOptions {
  /**
   * How long an applied event id is remembered, ms: ids are kept in buckets of this width and the current and the
   * previous bucket are checked, so an id is recognised for at least this long and at most twice it (as in Redis).
   * Default 86400000 (one day).
   */
  dedupHorizonMs?: number;
}

interface PartitionState {
  epoch: StateEpoch | undefined;
  accounts: Map<string, AccountState>;
  /** Applied event ids by bucket (`floor(now / horizon)`); only the current and the previous bucket are kept. */
  seen: Map<number, Set<string>>;
}

export interface MemoryStateStore extends StateStore {
  /** Forgets a partition's data, as a lost cache would (for tests). */
  forget(partition: number): void;
}

export function createMemoryStateStore(opts: MemoryStateStoreOptions = {}): MemoryStateStore {
  const horizonMs = opts.dedupHorizonMs ?? 86_400_000;
  if (!(horizonMs > 0))
    throw new EmbeddedError(EmbeddedErrorCode.invalidArgument, `dedupHorizonMs ${horizonMs} must be > 0`);
  const partitions = new Map<number, PartitionState>();

  const partitionOf = (p: number): PartitionState => {
    let state = partitions.get(p);
    if (state === undefined) {
      state = { epoch: undefined, accounts: new Map(), seen: new Map() };
      partitions.set(p, state);
    }
    return state;
  };

  /** The buckets to check at `nowMs`, dropping those past the horizon. */
  const liveBuckets = (state: PartitionState, nowMs: number): Set<string>[] => {
    const current = Math.floor(nowMs / horizonMs);
    for (const bucket of state.seen.keys()) if (bucket < current - 1) state.seen.delete(bucket);
    const out: Set<string>[] = [];
    for (const bucket of [current, current - 1]) {
      const ids = state.seen.get(bucket);
      if (ids !== undefined) out.push(ids);
    }
    return out;
  };

  return {
    read(partition, accountIds, eventIds, nowMs): Promise<StateReadResult> {
      const state = partitionOf(partition);
      const accounts = new Map<string, AccountState>();
      for (const id of accountIds) {
        const account = state.accounts.get(id);
        if (account !== undefined) accounts.set(id, account);
      }
      const seen = new Set<string>();
      const buckets = liveBuckets(state, nowMs);
      if (buckets.length > 0) {
        for (const id of eventIds) if (buckets.some((b) => b.has(id))) seen.add(id);
      }
      return Promise.resolve({ epoch: state.epoch, accounts, seen });
    },

    write(partition, accounts, appliedEventIds, nowMs) {
      const state = partitionOf(partition);
      for (const [id, account] of accounts) state.accounts.set(id, account);
      const bucket = Math.floor(nowMs / horizonMs);
      let ids = state.seen.get(bucket);
      if (ids === undefined) {
        ids = new Set();
        state.seen.set(bucket, ids);
      }
      for (const id of appliedEventIds) ids.add(id);
      return Promise.resolve();
    },

    initEpoch(partition, recoveredAtMs, nowMs) {
      const state = partitionOf(partition);
      state.epoch ??= { createdAtMs: nowMs, recoveredAtMs };
      return Promise.resolve(state.epoch);
    },

    forget(partition) {
      partitions.delete(partition);
    },
  };
}
