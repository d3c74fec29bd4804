/**
 * Group commit for the writer: the partitions' turns ask to commit their own batches; what queues up while earlier
 * statements run is committed together in one statement, at most `maxInFlight` statements at a time.
 *
 * One writer process owns many partitions. Under a light load each partition's turns are small, and one statement
 * per turn pays PostgreSQL's per-statement cost (parse/bind, snapshot, WAL flush) for a handful of rows. Grouping
 * makes the statement count follow what PostgreSQL can take instead of how many partitions there are, without
 * waiting on a timer: a request that finds a free slot is sent at once. The partitions' accounts are disjoint, so
 * one statement holding several partitions takes no lock another would wait for.
 */
import type { Result } from '@throughline/contracts';
import { PipelineError, PipelineErrorCode } from './errors.js';
import type { CommitFence, ResultSink } from './ports.js';

/**
 * What the group commit sends: several partitions' results in one statement, an outcome for each (same order); a
 * partition whose writer fence holds a newer epoch is refused alone (`fenced`).
 */
export interface GroupCommitTarget {
  claim(partition: number, epoch: number): Promise<{ upstream: number }>;
  commitGroups(
    groups: readonly { fence: CommitFence; results: readonly Result[] }[],
  ): Promise<{ inserted: number; duplicates: number; fenced: boolean }[]>;
}

export interface GroupCommitOptions {
  /** Statements in flight at once (each holds one connection). Default 2. */
  maxInFlight?: number;
  /** Rows past which a statement takes no further partition (a single larger batch is still sent whole). Default 20000. */
  maxRows?: number;
}

interface Request {
  fence: CommitFence;
  results: Result[];
  resolve: (outcome: { inserted: number; duplicates: number }) => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitSink extends ResultSink {
  /**
   * Statements sent and batches they carried so far (batches / statements = the grouping achieved), and how many
   * failed groups were retried one batch per statement.
   */
  readonly stats: { statements: number; batches: number; splits: number };
}

export function createGroupCommitSink(
  target: GroupCommitTarget,
  opts: GroupCommitOptions = {},
): GroupCommitSink {
  const maxInFlight = opts.maxInFlight ?? 2;
  const maxRows = opts.maxRows ?? 20_000;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
    throw new RangeError(`maxInFlight must be an integer ≥ 1, got ${maxInFlight}`);
  if (!(maxRows >= 1)) throw new RangeError(`maxRows must be ≥ 1, got ${maxRows}`);
  const queue: Request[] = [];
  const stats = { statements: 0, batches: 0, splits: 0 };
  let inFlight = 0;

  /** Takes the next group off the queue: oldest first, one request per partition, up to `maxRows` rows. */
  function takeGroup(): Request[] {
    const group: Request[] = [];
    const partitions = new Set<number>();
    let rows = 0;
    for (let i = 0; i < queue.length;) {
      const request = queue[i]!;
      if (group.length > 0 && rows + request.results.length > maxRows) break;
      if (partitions.has(request.fence.partition)) {
        i++;
        continue;
      }
      partitions.add(request.fence.partition);
      rows += request.results.length;
      group.push(request);
      queue.splice(i, 1);
    }
    return group;
  }

  async function commit(group: Request[]): Promise<void> {
    stats.statements++;
    stats.batches += group.length;
    try {
      const outcomes = await target.commitGroups(group.map(({ fence, results }) => ({ fence, results })));
      group.forEach((request, i) => {
        const { inserted, duplicates, fenced } = outcomes[i]!;
        if (!fenced) request.resolve({ inserted, duplicates });
        else
          request.reject(
            new PipelineError(
              PipelineErrorCode.fenced,
              `commit of partition ${request.fence.partition} refused: a writer of a newer lease epoch than ${request.fence.epoch} owns it`,
            ),
          );
      });
    } catch (err) {
      if (group.length === 1) {
        group[0]!.reject(err);
        return;
      }
      // One partition's bad batch must not fail (and count a delivery against) the others: each alone.
      stats.splits++;
      for (const request of group) await commit([request]);
    }
  }

  function pump(): void {
    while (inFlight < maxInFlight && queue.length > 0) {
      const group = takeGroup();
      inFlight++;
      void commit(group).finally(() => {
        inFlight--;
        pump();
      });
    }
  }

  return {
    stats,
    claim: (partition, epoch) => target.claim(partition, epoch),
    commitBatch(fence, results) {
      return new Promise((resolve, reject) => {
        queue.push({ fence, results, resolve, reject });
        pump();
      });
    },
  };
}
