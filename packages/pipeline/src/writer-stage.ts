import { Headers, type BusMessage } from '@throughline/bus';
import { ResultBatch, type Result } from '@throughline/contracts';
import type { Envelope, Item, TurnContext } from '@throughline/runtime';
import { positionRange } from './position-range.js';
import type { ResultSink } from './ports.js';

export function decodeResultBatch(msg: BusMessage): ResultBatch {
  return ResultBatch.decode(msg.data);
}

/**
 * The results of a batch one by one, each a batch of its own (same producer epoch), so that a result PostgreSQL
 * refuses deterministically is dead-lettered alone and the others of its batch are committed, in order.
 */
export function splitResultBatch({ value }: Envelope<ResultBatch>): Item<ResultBatch>[] {
  return value.results.map((result, index) => {
    const one: ResultBatch = { ...value, results: [result] };
    return { value: one, part: { index, data: ResultBatch.encode(one).finish() } };
  });
}

export interface WriterCounters {
  committedRows: number;
  duplicateRows: number;
  transactions: number;
  /** Batches dropped uncommitted because a state instance of a newer epoch had already published to the partition. */
  staleBatches: number;
  /** Writer dead letters sent back by `throughline dlq redrive` and committed (or found committed). */
  redrivenBatches: number;
}

export function newWriterCounters(): WriterCounters {
  return { committedRows: 0, duplicateRows: 0, transactions: 0, staleBatches: 0, redrivenBatches: 0 };
}

/** The writer's work on one partition under one lease. */
export interface WriterProcessor {
  /** Raises the partition's writer fence to this lease's epoch and learns the newest state epoch committed. */
  claim(): Promise<void>;
  handle(turn: Envelope<ResultBatch>[], ctx?: TurnContext): Promise<void>;
}

/**
 * The writer's turn: every result of the turn in one transaction (ledger rows inserted once by `event_id`,
 * balances moved only forward by position), refused as a whole when a writer of a newer epoch owns the partition.
 * Batches published by a state instance older than one already committed are dropped: that instance had lost its
 * lease, and the newer one publishes the same events again. A writer's dead letter redriven by an operator (header
 * `Tl-Redriven`) is committed whatever its producer epoch. The actor acks after this resolves, that is after COMMIT.
 */
export function createWriterProcessor(opts: {
  partition: number;
  /** The lease epoch this instance holds the partition under. */
  epoch: number;
  sink: ResultSink;
  counters?: WriterCounters;
}): WriterProcessor {
  const counters = opts.counters ?? newWriterCounters();
  const { partition, epoch, sink } = opts;
  let upstream: number | undefined;
  const claim = async (): Promise<void> => {
    upstream = (await sink.claim(partition, epoch)).upstream;
  };
  return {
    claim,
    async handle(turn, ctx) {
      if (upstream === undefined) await claim();
      let newest = upstream!;
      const results: Result[] = [];
      for (const { msg, value } of turn) {
        // A writer's dead letter redriven by an operator: its results passed the state fence when they were first
        // committed (and refused for their content); the newest state epoch seen is not taken from it.
        if (msg.headers.has(Headers.redriven)) {
          counters.redrivenBatches++;
          for (const r of value.results) results.push(r);
          continue;
        }
        const producer = Number(value.producerEpoch);
        if (producer < newest) {
          counters.staleBatches++;
          continue;
        }
        newest = producer;
        for (const r of value.results) results.push(r);
      }
      ctx?.addEvents(
        results.length,
        positionRange(results, (r) => r.position),
      );
      if (results.length === 0 && newest === upstream) return;
      // The rows keep the id of this turn's trace: `throughline trace <event_id>` starts from it.
      const fence = { partition, epoch, upstream: newest, ...(ctx?.traceId ? { traceId: ctx.traceId } : {}) };
      const commit = () => sink.commitBatch(fence, results);
      const { inserted, duplicates } = await (ctx ? ctx.wait('postgres', commit) : commit());
      upstream = newest;
      counters.committedRows += inserted;
      counters.duplicateRows += duplicates;
      counters.transactions++;
    },
  };
}
