import type { ResultBatch, Result } from '@throughline/contracts';
import type { Envelope, TurnContext } from '@throughline/runtime';
import { newWriterCounters, type ResultSink, type WriterCounters } from '@throughline/pipeline';
import { runKeyed, type InFlightLimit } from './keyed-runner.js';

/**
 * The writer without `batching`: one statement (so one transaction, one fsync) per result, the configured number
 * in flight, results of one account in order. The same idempotent statement as the batched writer, with one row.
 */
export function createNaiveWriterHandler(opts: {
  partition: number;
  epoch: number;
  sink: ResultSink;
  limit: InFlightLimit;
  counters?: WriterCounters;
}): (turn: Envelope<ResultBatch>[], ctx?: TurnContext) => Promise<void> {
  const counters = opts.counters ?? newWriterCounters();
  return async (turn, ctx) => {
    const results: Result[] = [];
    for (const { value } of turn) for (const r of value.results) results.push(r);
    ctx?.addEvents(results.length);
    await runKeyed(
      results,
      (r) => r.accountId,
      opts.limit,
      async (result) => {
        const fence = { partition: opts.partition, epoch: opts.epoch, upstream: 0 };
        const commit = () => opts.sink.commitBatch(fence, [result]);
        const { inserted, duplicates } = await (ctx ? ctx.wait('postgres', commit) : commit());
        counters.committedRows += inserted;
        counters.duplicateRows += duplicates;
        counters.transactions++;
      },
    );
  };
}
