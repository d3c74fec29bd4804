/**
 * The state stage's fast store in one process: what Redis holds in distributed mode (account states, the claims of
 * recent event ids, the partition's marker and fences), in memory, with the same rules — a write under an older
 * epoch than the partition's last claim is refused as fenced, a write to a partition without a marker is refused
 * until the state is rebuilt. The embedded mode runs on it, and so do the stages' unit tests. It lives as long as
 * the process; a new process starts without markers, so the state stage rebuilds what it needs from the committed
 * results, exactly as after a loss of Redis.
 */
import type { AccountState } from '@throughline/ledger';
import { PipelineError, PipelineErrorCode } from './errors.js';
import type { EventClaim, StateMarker, StateReadResult, StateStore } from './ports.js';

export interface MemoryStateStoreOptions {
  /**
   * How long an event id's claim is remembered, ms: claims are kept in buckets of this width and the previous,
   * current and next bucket are checked, so an id is recognised for at least this long and at most twice it (as in
   * Redis). Default 86400000 (one day).
   */
  dedupHorizonMs?: number;
}

interface PartitionState {
  marker: StateMarker | undefined;
  accounts: Map<string, AccountState>;
}

/**
 * Claims the events' ids in `buckets` (claims by bucket, `floor(now / horizon)`; the previous, current and next one
 * are kept: the next one holds the claims of a clock running ahead): an id unclaimed in all three is claimed for its
 * event's position in the current one; one claimed for another position is taken, unless that position is the one
 * a redriven event had (its claim passes to the new position, in the current bucket). Returns the positions of the
 * claims taken.
 */
export function claimEventIds(
  buckets: Map<number, Map<string, bigint>>,
  claims: readonly EventClaim[],
  nowMs: number,
  horizonMs: number,
): Set<bigint> {
  const taken = new Set<bigint>();
  if (claims.length === 0) return taken;
  const current = Math.floor(nowMs / horizonMs);
  for (const bucket of buckets.keys()) if (bucket < current - 1) buckets.delete(bucket);
  let now = buckets.get(current);
  if (now === undefined) buckets.set(current, (now = new Map<string, bigint>()));
  const others = [buckets.get(current - 1), buckets.get(current + 1)];
  for (const { eventId, position, redrivenFrom } of claims) {
    const elsewhere = others.find((b) => b?.has(eventId));
    const held = elsewhere?.get(eventId) ?? now.get(eventId);
    if (held === undefined || held === redrivenFrom) {
      elsewhere?.delete(eventId);
      now.set(eventId, position);
    } else if (held !== position) taken.add(position);
  }
  return taken;
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
  /** Claims of event ids, for every partition: one map, as in Redis. */
  const claimed = new Map<number, Map<string, bigint>>();

  const partitionOf = (p: number): PartitionState => {
    let state = partitions.get(p);
    if (state === undefined) {
      state = { marker: undefined, accounts: new Map() };
      partitions.set(p, state);
    }
    return state;
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
    read(partition, accountIds, claims, nowMs): Promise<StateReadResult> {
      const state = partitionOf(partition);
      const accounts = new Map<string, AccountState>();
      for (const id of accountIds) {
        const account = state.accounts.get(id);
        if (account !== undefined) accounts.set(id, account);
      }
      const taken = claimEventIds(claimed, claims, nowMs, horizonMs);
      return Promise.resolve({ marker: state.marker && { ...state.marker }, accounts, taken });
    },

    write(partition, fence, accounts) {
      return run(() => {
        const state = partitionOf(partition);
        const marker = state.marker;
        if (marker === undefined)
          throw new StateLostError(`partition ${partition} has no marker; rebuild it first`);
        if (marker.owner > fence.epoch) throw fenced(partition, marker.owner, fence.epoch);
        for (const [id, account] of accounts) state.accounts.set(id, account);
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
      };
      return () => void partitions.set(partition, copy);
    },
  };
}
