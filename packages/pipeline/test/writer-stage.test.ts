import { describe, expect, it } from 'vitest';
import { Headers, type BusMessage } from '@throughline/bus';
import { Outcome, type Result, type ResultBatch } from '@throughline/contracts';
import { TurnClock, type TurnScope } from '@throughline/runtime';
import { createWriterProcessor, newWriterCounters, type CommitFence, type ResultSink } from '../src/index.js';

/** The writer reads a result's position only; the sink here keeps nothing else. */
const result = (eventId: string, position: bigint) =>
  ({ eventId, accountId: 'acc-1', position, outcome: Outcome.OUTCOME_APPLIED }) as Result;

describe('writer stage', () => {
  it("commits with its turn's trace id and reports the positions it carried", async () => {
    const fences: CommitFence[] = [];
    const sink: ResultSink = {
      claim: () => Promise.resolve({ upstream: 0 }),
      commitBatch: (fence, results) => {
        fences.push(fence);
        return Promise.resolve({ inserted: results.length, duplicates: 0 });
      },
    };
    const writer = createWriterProcessor({ partition: 3, epoch: 2, sink });
    const traceId = '5'.repeat(32);
    const scope: TurnScope = {
      outgoingHeaders: undefined,
      traceId,
      dependency: (_d, work) => work(),
      end: () => undefined,
    };
    const ctx = new TurnClock(3, scope, () => Promise.resolve());
    const batch = (positions: bigint[]) => ({
      msg: { headers: new Map() } as unknown as BusMessage,
      value: {
        batchId: 'b',
        partition: 3,
        producerEpoch: 1n,
        results: positions.map((p) => result(`e${p}`, p)),
      } satisfies ResultBatch,
    });
    await writer.handle([batch([70n, 71n]), batch([90n, 72n])], ctx);
    expect(fences).toEqual([{ partition: 3, epoch: 2, upstream: 1, traceId }]);
    expect(ctx.events).toBe(4);
    expect(ctx.positions).toEqual({ first: 70n, last: 90n });
    // Untraced, the fence carries no trace id.
    await writer.handle([batch([91n])]);
    expect(fences[1]).toEqual({ partition: 3, epoch: 2, upstream: 1 });
  });

  it('commits a redriven dead letter whatever state epoch produced it, and drops a stale batch that is not one', async () => {
    const commits: { fence: CommitFence; ids: string[] }[] = [];
    const sink: ResultSink = {
      claim: () => Promise.resolve({ upstream: 5 }),
      commitBatch: (fence, results) => {
        commits.push({ fence, ids: results.map((r) => r.eventId) });
        return Promise.resolve({ inserted: results.length, duplicates: 0 });
      },
    };
    const counters = newWriterCounters();
    const writer = createWriterProcessor({ partition: 1, epoch: 9, sink, counters });
    const batch = (producerEpoch: bigint, id: string, headers: [string, string][] = []) => ({
      msg: { headers: new Map(headers) } as unknown as BusMessage,
      value: { batchId: id, partition: 1, producerEpoch, results: [result(id, 10n)] } satisfies ResultBatch,
    });
    // Epoch 3 is older than the state epoch already committed (5): dropped, unless it is a redriven dead letter.
    await writer.handle([
      batch(3n, 'stale'),
      batch(3n, 'redriven', [[Headers.redriven, '17']]),
      batch(5n, 'current'),
    ]);
    expect(commits).toEqual([
      { fence: { partition: 1, epoch: 9, upstream: 5 }, ids: ['redriven', 'current'] },
    ]);
    expect(counters).toMatchObject({ staleBatches: 1, redrivenBatches: 1 });
  });
});
