/**
 * When the state stage may trust what its store holds for a partition, and how it rebuilds it when not.
 *
 * The store can lose a partition's state in two ways. All of it (Redis restarted empty, a flush): the marker is
 * gone. Recent writes only (an append-only file replayed up to its last sync, a replica promoted before it caught
 * up): the marker is there, but older. The marker keeps the partition's high-water position (the highest position
 * applied), so a rollback shows as a high-water lower than the one this instance wrote last — or, for an instance
 * that starts owning the partition, lower than the one PostgreSQL committed. A rolled-back partition is forgotten
 * and rebuilt as after a full loss: never used.
 */
import type { Bus } from '@throughline/bus';
import { sleep, type Logger } from '@throughline/runtime';
import type { CommittedState, StateMarker, StateStore } from './ports.js';

export interface RecoveryContext {
  bus: Bus;
  partition: number;
  epoch: number;
  store: StateStore;
  committed: CommittedState;
  writerGroup: string;
  logger: Logger;
}

/** Waits until the writer has committed everything the partition published, so PostgreSQL is the whole truth. */
export async function waitForWriter(ctx: RecoveryContext, why: string): Promise<void> {
  const { bus, partition, writerGroup, logger } = ctx;
  let loggedAtMs = -Infinity;
  // Polled every 10 ms at first (an owner's first turn waits on it), then every 100 ms.
  for (let waitedMs = 0, delayMs = 10; ; waitedMs += delayMs, delayMs = Math.min(100, delayMs * 2)) {
    const backlog = await bus.backlog({ group: writerGroup, topic: 'applied', partition });
    if (backlog.pending === 0 && backlog.ackPending === 0) return;
    if (waitedMs - loggedAtMs >= 5000) {
      loggedAtMs = waitedMs;
      logger.info(`${why}; waiting for the writer to commit the partition first`, {
        partition,
        pending: backlog.pending + backlog.ackPending,
      });
    }
    await sleep(delayMs);
  }
}

/**
 * The store has no marker for the partition: it is new, or it lost its data. Once PostgreSQL is the whole truth,
 * marks the state's new life; when PostgreSQL already holds rows of the partition, it was a loss, and PostgreSQL
 * answers for a horizon. Returns the marker and whether it was a loss.
 */
export async function rebuild(
  ctx: RecoveryContext,
  now: number,
): Promise<{ marker: StateMarker; lost: boolean }> {
  await waitForWriter(ctx, 'state store has no marker');
  const lost = await ctx.committed.hasCommittedRows(ctx.partition);
  // The new marker starts at what PostgreSQL committed, so that the next owner does not take it for a rollback.
  const highWater = lost ? await ctx.committed.committedHighWater(ctx.partition) : 0n;
  const marker = await ctx.store.initMarker(ctx.partition, lost ? now : null, now, ctx.epoch, highWater);
  if (lost)
    ctx.logger.warn('state store lost this partition; rebuilding from PostgreSQL', {
      partition: ctx.partition,
    });
  return { marker, lost };
}

/**
 * Why the store's state of the partition is older than what this instance applied, if it is: its high-water
 * position is below the one this instance wrote last (`known`). A marker of another life (`known` from before the
 * store lost it all) is no rollback: it is rebuilt as a loss. An instance that starts owning the partition asks
 * {@link rolledBackBeforeOwning} instead.
 */
export function rolledBackSince(known: StateMarker, stored: StateMarker): string | undefined {
  if (stored.createdAtMs !== known.createdAtMs || stored.highWater >= known.highWater) return undefined;
  return `high-water position ${stored.highWater}, below the ${known.highWater} this instance wrote`;
}

/**
 * Why the store's state of the partition is older than what PostgreSQL committed, if it is: asked by an instance
 * that starts owning the partition, which has no high-water of its own to compare with. Once the writer has
 * committed everything the partition published (waited for here: the hand-over's pause grows by the writer's lag
 * on the partition), PostgreSQL's high-water is the highest position any owner published, and the store's is at
 * least that — every owner writes the store after it publishes — unless the store lost writes. One other case
 * shows the same: the last owner published a turn and its store write then failed (it crashed, or was fenced).
 * Rebuilding is right for both: in the second, PostgreSQL holds that turn, and its events, delivered again, are
 * found applied at their accounts' positions.
 */
export async function rolledBackBeforeOwning(
  ctx: RecoveryContext,
  stored: StateMarker,
): Promise<string | undefined> {
  await waitForWriter(ctx, 'taking over a partition');
  const committed = await ctx.committed.committedHighWater(ctx.partition);
  if (committed <= stored.highWater) return undefined;
  return `high-water position ${stored.highWater}, below the ${committed} PostgreSQL committed`;
}

/** Forgets a rolled-back partition's state in the store, so that it is rebuilt as after a loss. */
export async function forgetRolledBack(ctx: RecoveryContext, found: string): Promise<void> {
  ctx.logger.warn(
    'state store lost recent writes of this partition (rolled back); rebuilding from PostgreSQL',
    {
      partition: ctx.partition,
      found,
    },
  );
  await ctx.store.reset(ctx.partition);
}
