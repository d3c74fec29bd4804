/**
 * @throughline/ablation — what the benchmark measures throughline against, kept out of the product's packages:
 * the naive design (one event at a time, a configuration look-up and a database transaction per event, no
 * batching), the lessons switched back on one by one over it (`PIPELINE_MODE`, `PIPELINE_FEATURES`), and latency
 * injected per dependency round trip (`INJECT_LATENCY`) to model a networked deployment on one machine. The
 * enrich, state and writer apps take these settings, and their partitions' processors from `enrichProcessorFor`,
 * `stateProcessorFor` and `writerProcessorFor`, so the benchmark runs the real services in each design.
 *
 * ```ts
 * const mode = pipelineModeOf(settings);            // optimized, or naive with some lessons back
 * const store = withInjectedLatency(redisStore, settings.INJECT_LATENCY, 'redis');
 * const processor = writerProcessorFor({ mode, limit, batched: groupSink, sink: store, counters }, lease);
 * ```
 */
export {
  injectDelay,
  parseLatencySpec,
  withInjectedLatency,
  type LatencyModel,
  type LatencySpec,
} from './latency.js';
export {
  isOptimized,
  parsePipelineMode,
  PIPELINE_FEATURES,
  type PipelineFeature,
  type PipelineMode,
} from './pipeline-mode.js';
export { InFlightLimit, runKeyed } from './keyed-runner.js';
export { createNaiveEnrichHandler, type NaiveEnrichOptions } from './naive-enrich.js';
export { createNaiveStateHandler, type NaiveStateOptions } from './naive-state.js';
export { createNaiveWriterHandler } from './naive-writer.js';
export {
  enrichProcessorFor,
  stateProcessorFor,
  writerProcessorFor,
  type EnrichProcessorOptions,
  type WriterProcessorOptions,
} from './processors.js';
export {
  createPostgresAccountTransactions,
  withAccountLatency,
  type AccountTransactions,
  type LockedAccount,
  type LockedAccountRow,
  type PostgresAccountTransactions,
} from './account-transactions.js';
export { injectLatencySetting, pipelineModeOf, pipelineModeSettings } from './settings.js';
