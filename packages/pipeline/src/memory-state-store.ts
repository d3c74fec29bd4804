/**
 * The state stage's fast store in one process: what Redis holds in distributed mode (account states, recently
 * applied event ids, the partition's marker and fences), in memory, with the same rules — a write under an older
 * epoch than the partition's last claim is refused as fenced, a write to a partition without a marker is refused
 * until the state is rebuilt. The embedded mode runs on it, and so do the stages' unit tests. It lives as long as
 * the process; a new process starts without markers, so the state stage rebuilds what it needs from the committed
 * results, exactly as after a loss of Redis.
 */
import type { AccountState } from '@throughline/ledger';
import { PipelineError, PipelineErrorCode } from './errors.js';
import type { StateMarker, StateReadResult, StateStore } from './ports.js';

export interface MemoryStateStoreOptions {
  /**
   * How long an applied event id is remembered, ms: ids are kept in buckets of this width and the current and the
   * previous bucket are checked, so an id is recognised for at least this long and at most twice it (as in Redis).
   * Default 86400000 (one day).
   */
  dedupHorizonMs?: number;
}

interface PartitionState {
  marker: StateMarker | undefined;
  accounts: Map<string, AccountState>;
  /** Applied event ids by bucket (`floor(now / horizon)`); only the current and the previous bucket are kept. */
  seen: Map<number, Set<string>>;
}

export interface MemoryStateStore extends StateStore {
  /** Forgets a partition's data, as a lost cache would (for tests). */
  forget(partition: number): void;
  /**
   * Copies a partition's data; the function returned puts that copy back, as a rollback of the cache to an older
   * snapshot would (for tests).
   */
  snapshot(partition: number): () => void;
}

/** A write refused because the partition's state is gone: like Redis' `TLLOST`, retried after a rebuild. */
class StateLostError extends Error {
  override readonly name = 'StateLostError';
  readonly code = 'STATE_LOST';
  readonly dependency = 'state';
}

export function createMemoryStateStore(opts: MemoryStateStoreOptions = {}): MemoryStateStore {
  const horizonMs = opts.dedupHorizonMs ?? 86_400_000;
  if (!(horizonMs > 0)) throw new RangeError(`dedupHorizonMs ${horizonMs} must be > 0`);
  const partitions = new Map<number, PartitionState>();

  const partitionOf = (p: number): PartitionState => {
    let state = partitions.get(p);
    if (state === undefined) {
      state = { marker: undefined, accounts: new Map(), seen: new Map() };
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

  const fenced = (partition: number, owner: number, epoch: number): PipelineError =>
    new PipelineError(
      PipelineErrorCode.fenced,
      `partition ${partition} is owned under lease epoch ${owner}, newer than ${epoch}`,
      { currentEpoch: owner },
    );

  const run = <T>(work: () => T): Promise<T> => {
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
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
      return Promise.resolve({ marker: state.marker && { ...state.marker }, accounts, seen });
    },

    write(partition, fence, accounts, appliedEventIds, nowMs) {
      return run(() => {
        if (accounts.size === 0 && appliedEventIds.length === 0) return;
        const state = partitionOf(partition);
        const marker = state.marker;
        if (marker === undefined)
          throw new StateLostError(`partition ${partition} has no marker; rebuild it first`);
        if (marker.owner > fence.epoch) throw fenced(partition, marker.owner, fence.epoch);
        for (const [id, account] of accounts) state.accounts.set(id, account);
        const bucket = Math.floor(nowMs / horizonMs);
        let ids = state.seen.get(bucket);
        if (ids === undefined) {
          ids = new Set();
          state.seen.set(bucket, ids);
        }
        for (const id of appliedEventIds) ids.add(id);
        marker.owner = fence.epoch;
        marker.upstream = Math.max(marker.upstream, fence.upstream);
        marker.highWater = fence.highWater;
      });
    },

    claim(partition, epoch) {
      return run(() => {
        const marker = partitionOf(partition).marker;
        if (marker === undefined) return;
        if (marker.owner > epoch) throw fenced(partition, marker.owner, epoch);
        marker.owner = epoch;
      });
    },

    initMarker(partition, recoveredAtMs, nowMs, owner, highWater = 0n) {
      return run(() => {
        const state = partitionOf(partition);
        if (state.marker === undefined) {
          state.marker = { createdAtMs: nowMs, recoveredAtMs, owner, upstream: 0, highWater };
        } else {
          if (state.marker.owner > owner) throw fenced(partition, state.marker.owner, owner);
          state.marker.owner = owner;
        }
        return { ...state.marker };
      });
    },

    forget(partition) {
      partitions.delete(partition);
    },

    reset(partition) {
      partitions.delete(partition);
      return Promise.resolve();
    },

    snapshot(partition) {
      const state = partitionOf(partition);
      const copy: PartitionState = {
        marker: state.marker && { ...state.marker },
        accounts: new Map(state.accounts),
        seen: new Map([...state.seen].map(([bucket, ids]) => [bucket, new Set(ids)])),
      };
      return () => void partitions.set(partition, copy);
    },
  };
}
