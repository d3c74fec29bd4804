/**
 * @throughline/embedded — throughline in one process, with nothing else installed.
 *
 * The same stages, partition actors and domain code as the five services, over the in-memory bus (JetStream's
 * semantics), with per-key state in memory (Redis' role) and results in an embedded PostgreSQL — PGlite, on its own
 * worker thread, with its files in a data directory. The stores' code runs on it unchanged through a small
 * `pg.Pool` look-alike; only the writer's bulk load differs (COPY into a staging table, same effect).
 *
 * ```ts
 * import { EmbeddedDatabase, runEmbeddedPipeline } from '@throughline/embedded';
 * import { verifyLedger } from '@throughline/stores';
 *
 * const pipeline = await runEmbeddedPipeline({ dataDir: './.throughline/data', tenants: demoTenants(5) });
 * await pipeline.publish(events);
 * await pipeline.drain();
 * const report = await verifyLedger(pipeline.database.pool);
 * await pipeline.stop();
 * ```
 */
export { EmbeddedError, EmbeddedErrorCode, isEmbeddedError } from './errors.js';
export {
  DEFAULT_DATA_DIR,
  EmbeddedDatabase,
  hasDatabase,
  type OpenEmbeddedDatabaseOptions,
} from './database/embedded-database.js';
export type { SqlStep, StepResult } from './database/protocol.js';
export { createCopySink, stagingText, type StatementRunner } from './stores/copy-sink.js';
export { CommitStats, LatencyHistogram, observedSink, type OutcomeCounts } from './commit-stats.js';
export { STAGE_NAMES, TurnAccounting, type StageName, type StageTime } from './turn-accounting.js';
export { demoTenants, ensureTenants } from './tenants.js';
export {
  runEmbeddedPipeline,
  type EmbeddedPipeline,
  type EmbeddedPipelineOptions,
  type PipelineProgress,
} from './embedded-pipeline.js';
export {
  prepareFreshDataDir,
  runDemo,
  type DemoOptions,
  type DemoPhase,
  type DemoProgress,
  type DemoReport,
} from './demo.js';
