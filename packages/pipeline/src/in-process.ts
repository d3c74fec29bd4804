/**
 * Every stage of the pipeline in one process, from the stage table: the processors of each stage built from the
 * dependencies they share (bus, configuration snapshot, state store, committed state, result sink), and one
 * stage host per stage holding every partition under leases — as the services do, one process each. The embedded
 * mode runs on this; so do tests that need the whole pipeline without processes.
 */
import type { Bus } from '@throughline/bus';
import type { EnrichedBatch, EventBatch, ResultBatch } from '@throughline/contracts';
import {
  hostStage,
  silentLogger,
  type Lease,
  type Logger,
  type PartitionActorOptions,
  type PartitionProcessor,
  type StageHost,
} from '@throughline/runtime';
import type { ConfigSnapshot } from './config-snapshot.js';
import { createEnrichHandler } from './enrich-stage.js';
import type { CommittedState, ResultSink, StateStore } from './ports.js';
import { STAGE_NAMES, STAGES, type StageName } from './stages.js';
import { newStateCounters, type StateCounters } from './state-counters.js';
import { StateStage } from './state-stage.js';
import { createWriterProcessor, newWriterCounters, type WriterCounters } from './writer-stage.js';

export interface StageDependencies {
  bus: Bus;
  /** Partitions of the pipeline. */
  partitionCount: number;
  /** The current configuration snapshot (enrich reads it once per turn). */
  snapshot: () => ConfigSnapshot;
  /** The state stage's fast store. */
  stateStore: StateStore;
  /** The committed truth the state stage rebuilds from. */
  committed: CommittedState;
  /** Where the writer commits. */
  sink: ResultSink;
  stateCounters?: StateCounters;
  writerCounters?: WriterCounters;
  logger?: Logger;
}

/** The processor factory of each stage. */
export interface StageProcessors {
  enrich: (lease: Lease) => PartitionProcessor<EventBatch>;
  state: (lease: Lease) => PartitionProcessor<EnrichedBatch>;
  writer: (lease: Lease) => PartitionProcessor<ResultBatch>;
}

export function stageProcessors(deps: StageDependencies): StageProcessors {
  const stateCounters = deps.stateCounters ?? newStateCounters();
  const writerCounters = deps.writerCounters ?? newWriterCounters();
  return {
    enrich: ({ partition, epoch }) => ({
      handle: createEnrichHandler({
        bus: deps.bus,
        partition,
        partitionCount: deps.partitionCount,
        epoch,
        snapshot: deps.snapshot,
      }),
    }),
    state: ({ partition, epoch }) =>
      new StateStage({
        bus: deps.bus,
        partition,
        epoch,
        store: deps.stateStore,
        committed: deps.committed,
        counters: stateCounters,
        logger: deps.logger ?? silentLogger,
        partitionCount: deps.partitionCount,
      }),
    writer: ({ partition, epoch }) =>
      createWriterProcessor({ partition, epoch, sink: deps.sink, counters: writerCounters }),
  };
}

export interface InProcessPipelineOptions {
  bus: Bus;
  partitionCount: number;
  processors: StageProcessors;
  /** Actor options of each stage (turn size, tracing, metrics hook). */
  actor?: (stage: StageName) => Partial<Omit<PartitionActorOptions<unknown>, 'name' | 'partition' | 'bus'>>;
  /** How long to wait for every stage to hold every partition. Default 10000 ms. */
  readyTimeoutMs?: number;
  logger?: Logger;
}

/**
 * Hosts the three stages in this process, each as the only instance of its stage (member `in-process-<stage>`),
 * and resolves once each holds every partition. Stop the hosts to drain.
 */
export async function hostPipeline(opts: InProcessPipelineOptions): Promise<Record<StageName, StageHost>> {
  const hosts = {} as Record<StageName, StageHost>;
  for (const name of STAGE_NAMES) {
    const spec = STAGES[name];
    hosts[name] = await hostStage<never>({
      bus: opts.bus,
      stage: spec.name,
      topic: spec.consumes,
      decode: spec.decode as (msg: Parameters<typeof spec.decode>[0]) => never,
      ...('split' in spec ? { split: spec.split as never } : {}),
      partitionCount: opts.partitionCount,
      memberId: `in-process-${name}`,
      processorFor: opts.processors[name],
      ...(opts.actor ? { actor: opts.actor(name) } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
  }
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
  for (const host of Object.values(hosts)) {
    while (host.owned().length < opts.partitionCount) {
      if (Date.now() > deadline) {
        await Promise.all(Object.values(hosts).map((h) => h.stop()));
        throw new Error(`${host.stage} did not take its ${opts.partitionCount} partitions`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  return hosts;
}
