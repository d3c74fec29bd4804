import type { BusMessage } from '@throughline/bus';
import { ResultBatch, type Result } from '@throughline/contracts';
import type { Envelope, TurnContext } from '@throughline/runtime';
import type { ResultSink } from './ports.js';

export function decodeResultBatch(msg: BusMessage): ResultBatch {
  return ResultBatch.decode(msg.data);
}

export interface WriterCounters {
  committedRows: number;
  duplicateRows: number;
  transactions: number;
}

export function newWriterCounters(): WriterCounters {
  return { committedRows: 0, duplicateRows: 0, transactions: 0 };
}

/**
 * The writer's turn: every result of the turn in one transaction (ledger rows inserted once by `event_id`,
 * balances moved only forward by position). The actor acks after this resolves, that is after COMMIT.
 */
export function createWriterHandler(opts: {
  partition: number;
  sink: ResultSink;
  counters?: WriterCounters;
}): (turn: Envelope<ResultBatch>[], ctx?: TurnContext) => Promise<void> {
  const counters = opts.counters ?? newWriterCounters();
  return async (turn, ctx) => {
    const results: Result[] = [];
    for (const { value } of turn) for (const r of value.results) results.push(r);
    ctx?.addEvents(results.length);
    if (results.length === 0) return;
    const commit = () => opts.sink.commitBatch(opts.partition, results);
    const { inserted, duplicates } = await (ctx ? ctx.wait('postgres', commit) : commit());
    counters.committedRows += inserted;
    counters.duplicateRows += duplicates;
    counters.transactions++;
  };
}
