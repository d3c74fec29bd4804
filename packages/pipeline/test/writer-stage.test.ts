import { describe, expect, it } from 'vitest';
import type { BusMessage } from '@throughline/bus';
import { Outcome, type Result, type ResultBatch } from '@throughline/contracts';
import { TurnClock, type TurnScope } from '@throughline/runtime';
import { createWriterProcessor, type CommitFence, type ResultSink } from '../src/index.js';

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
      msg: {} as BusMessage,
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
});
