import { describe, expect, it } from 'vitest';
import type { Result } from '@throughline/contracts';
import {
  createGroupCommitSink,
  isPipelineError,
  PipelineErrorCode,
  type CommitFence,
  type GroupCommitTarget,
} from '../src/index.js';

type Group = { partition: number; epoch: number; results: readonly Result[] };

/**
 * A target whose statements finish when the test says so: the interleavings below need that control. A
 * partition's fence holds `fences.get(partition)`; a commit of an older epoch is refused.
 */
function controlledTarget(fences = new Map<number, number>()) {
  const calls: { groups: Group[]; finish: (err?: Error) => void }[] = [];
  const target: GroupCommitTarget = {
    claim: () => Promise.resolve({ upstream: 0 }),
    commitGroups: (groups) =>
      new Promise((resolve, reject) => {
        calls.push({
          groups: groups.map(({ fence, results }) => ({
            partition: fence.partition,
            epoch: fence.epoch,
            results,
          })),
          finish: (err) =>
            err
              ? reject(err)
              : resolve(
                  groups.map(({ fence, results }) =>
                    fence.epoch < (fences.get(fence.partition) ?? 0)
                      ? { inserted: 0, duplicates: 0, fenced: true }
                      : { inserted: results.length, duplicates: 0, fenced: false },
                  ),
                ),
        });
      }),
  };
  return { target, calls };
}

const at = (partition: number, epoch = 1): CommitFence => ({ partition, epoch, upstream: 0 });

const rows = (n: number, tag: string): Result[] =>
  Array.from({ length: n }, (_, i) => ({ eventId: `${tag}-${i}` }) as Result);
const tick = () => new Promise((r) => setImmediate(r));

describe('group commit', () => {
  it('sends at once when a slot is free, and groups what queues up meanwhile into one statement', async () => {
    const { target, calls } = controlledTarget();
    const sink = createGroupCommitSink(target, { maxInFlight: 1 });
    const first = sink.commitBatch(at(0), rows(3, 'a'));
    expect(calls).toHaveLength(1); // no timer: the first request goes out immediately
    const queued = [sink.commitBatch(at(1), rows(2, 'b')), sink.commitBatch(at(2), rows(4, 'c'))];
    await tick();
    expect(calls).toHaveLength(1);
    calls[0]!.finish();
    expect(await first).toEqual({ inserted: 3, duplicates: 0 });
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.groups.map((g) => g.partition)).toEqual([1, 2]);
    calls[1]!.finish();
    expect(await Promise.all(queued)).toEqual([
      { inserted: 2, duplicates: 0 },
      { inserted: 4, duplicates: 0 },
    ]);
    expect(sink.stats).toEqual({ statements: 2, batches: 3, splits: 0 });
  });

  it('never puts one partition twice in a statement, and keeps a partition’s batches in order', async () => {
    const { target, calls } = controlledTarget();
    const sink = createGroupCommitSink(target, { maxInFlight: 1 });
    void sink.commitBatch(at(9), rows(1, 'x'));
    const later = [
      sink.commitBatch(at(0), rows(1, 'a1')),
      sink.commitBatch(at(0), rows(1, 'a2')),
      sink.commitBatch(at(1), rows(1, 'b1')),
    ];
    calls[0]!.finish();
    await tick();
    expect(calls[1]!.groups.map((g) => [g.partition, g.results[0]!.eventId])).toEqual([
      [0, 'a1-0'],
      [1, 'b1-0'],
    ]);
    calls[1]!.finish();
    await tick();
    expect(calls[2]!.groups.map((g) => [g.partition, g.results[0]!.eventId])).toEqual([[0, 'a2-0']]);
    calls[2]!.finish();
    await Promise.all(later);
  });

  it('stops adding partitions to a statement at maxRows, but sends a larger batch whole', async () => {
    const { target, calls } = controlledTarget();
    const sink = createGroupCommitSink(target, { maxInFlight: 1, maxRows: 10 });
    void sink.commitBatch(at(9), rows(1, 'x'));
    void sink.commitBatch(at(0), rows(25, 'big'));
    void sink.commitBatch(at(1), rows(4, 'b'));
    void sink.commitBatch(at(2), rows(4, 'c'));
    void sink.commitBatch(at(3), rows(4, 'd'));
    calls[0]!.finish();
    await tick();
    expect(calls[1]!.groups.map((g) => g.partition)).toEqual([0]);
    calls[1]!.finish();
    await tick();
    expect(calls[2]!.groups.map((g) => g.partition)).toEqual([1, 2]);
  });

  it('runs up to maxInFlight statements side by side', () => {
    const { target, calls } = controlledTarget();
    const sink = createGroupCommitSink(target, { maxInFlight: 2 });
    void sink.commitBatch(at(0), rows(1, 'a'));
    void sink.commitBatch(at(1), rows(1, 'b'));
    void sink.commitBatch(at(2), rows(1, 'c'));
    expect(calls.map((c) => c.groups.map((g) => g.partition))).toEqual([[0], [1]]);
  });

  it('retries a failed group one batch per statement, so only the bad batch fails', async () => {
    const { target, calls } = controlledTarget();
    const sink = createGroupCommitSink(target, { maxInFlight: 1 });
    void sink.commitBatch(at(9), rows(1, 'x'));
    const good = sink.commitBatch(at(0), rows(2, 'good'));
    const bad = sink.commitBatch(at(1), rows(1, 'bad'));
    calls[0]!.finish();
    await tick();
    calls[1]!.finish(new Error('result bad-0 has no outcome'));
    await tick();
    expect(calls[2]!.groups.map((g) => g.partition)).toEqual([0]);
    calls[2]!.finish();
    await tick();
    expect(calls[3]!.groups.map((g) => g.partition)).toEqual([1]);
    calls[3]!.finish(new Error('result bad-0 has no outcome'));
    expect(await good).toEqual({ inserted: 2, duplicates: 0 });
    await expect(bad).rejects.toThrow('no outcome');
    expect(sink.stats.splits).toBe(1);
  });

  it('refuses the batch of a stale writer alone: the others of its statement commit', async () => {
    const { target, calls } = controlledTarget(new Map([[4, 9]]));
    const sink = createGroupCommitSink(target, { maxInFlight: 1 });
    void sink.commitBatch(at(9), rows(1, 'x'));
    const stale = sink.commitBatch(at(4, 8), rows(2, 'stale'));
    const fresh = sink.commitBatch(at(5), rows(3, 'fresh'));
    calls[0]!.finish();
    await tick();
    expect(calls[1]!.groups.map((g) => [g.partition, g.epoch])).toEqual([
      [4, 8],
      [5, 1],
    ]);
    calls[1]!.finish();
    expect(await fresh).toEqual({ inserted: 3, duplicates: 0 });
    const err: unknown = await stale.catch((e: unknown) => e);
    expect(isPipelineError(err) && err.code === PipelineErrorCode.fenced).toBe(true);
    expect(calls).toHaveLength(2);
  });

  it('refuses settings that could not work', () => {
    const { target } = controlledTarget();
    expect(() => createGroupCommitSink(target, { maxInFlight: 0 })).toThrow(RangeError);
    expect(() => createGroupCommitSink(target, { maxRows: 0 })).toThrow(RangeError);
  });
});
