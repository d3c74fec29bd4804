/**
 * Each stage's partition processor in the design the benchmark runs: the product's own when the lessons it needs
 * are on, else the naive handler with the lessons that are, whose claim raises the same fences. The stage apps
 * hand these to their stage host.
 */
import type { EnrichedBatch, EventBatch, ResultBatch } from '@throughline/contracts';
import {
  createEnrichHandler,
  createWriterProcessor,
  StateStage,
  type ResultSink,
  type WriterCounters,
} from '@throughline/pipeline';
import type { Lease, PartitionProcessor } from '@throughline/runtime';
import type { InFlightLimit } from './keyed-runner.js';
import { createNaiveEnrichHandler, type NaiveEnrichOptions } from './naive-enrich.js';
import { createNaiveStateHandler, type NaiveStateOptions } from './naive-state.js';
import { createNaiveWriterHandler } from './naive-writer.js';
import { isOptimized, type PipelineMode } from './pipeline-mode.js';

export type EnrichProcessorOptions = Omit<NaiveEnrichOptions, 'partition' | 'epoch'> & {
  /** Partitions of the pipeline (the optimized stage refuses an event of another partition). */
  partitionCount: number;
};

/** The enrich stage's processor: the optimized handler, or the naive one while a lesson is off. */
export function enrichProcessorFor(
  opts: EnrichProcessorOptions,
  { partition, epoch }: Lease,
): PartitionProcessor<EventBatch> {
  if (!isOptimized(opts.mode)) return { handle: createNaiveEnrichHandler({ ...opts, partition, epoch }) };
  const { bus, partitionCount, snapshot, maxOutputEvents } = opts;
  return {
    handle: createEnrichHandler({
      bus,
      partition,
      partitionCount,
      epoch,
      snapshot,
      ...(maxOutputEvents === undefined ? {} : { maxOutputEvents }),
    }),
  };
}

/**
 * The state stage's processor: `StateStage`, or the naive handler while a lesson is off, which claims the
 * partition in the same store.
 */
export function stateProcessorFor(
  opts: Omit<NaiveStateOptions, 'partition' | 'epoch'>,
  { partition, epoch }: Lease,
): PartitionProcessor<EnrichedBatch> {
  if (isOptimized(opts.mode)) return new StateStage({ ...opts.stage, bus: opts.bus, partition, epoch });
  return {
    claim: () => opts.stage.store.claim(partition, epoch),
    handle: createNaiveStateHandler({ ...opts, partition, epoch }),
  };
}

export interface WriterProcessorOptions {
  mode: PipelineMode;
  /** Shared by every partition of the process: the results in flight without `batching`. */
  limit: InFlightLimit;
  /** Where the batched writer commits (the partitions' turns sharing statements). */
  batched: ResultSink;
  /** Where the writer without `batching` commits, a statement per result. */
  sink: ResultSink;
  counters: WriterCounters;
}

/** The writer's processor: batched with the `batching` lesson, else a statement per result. */
export function writerProcessorFor(
  opts: WriterProcessorOptions,
  { partition, epoch }: Lease,
): PartitionProcessor<ResultBatch> {
  const { sink, counters, limit } = opts;
  if (opts.mode.features.has('batching'))
    return createWriterProcessor({ partition, epoch, sink: opts.batched, counters });
  return {
    claim: async () => void (await sink.claim(partition, epoch)),
    handle: createNaiveWriterHandler({ partition, epoch, sink, counters, limit }),
  };
}
