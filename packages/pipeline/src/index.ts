/**
 * @throughline/pipeline — the stages of throughline, independent of how they are deployed.
 *
 * The services (distributed mode) and the embedded mode wire the same stage code to a bus, a state store and a
 * sink: `IngestPublisher` (validated events → partitioned batches on `tl.ingested.<p>`), the enrich handler (one
 * config snapshot per turn), `StateStage` (per-key state in memory backed by a fast store) and the writer handler
 * (one transaction per turn). The ingest service's handlers (`createIngestService`) validate, authorize and
 * publish requests a window at a time; the config service's handlers (`createConfigService`: the database's change
 * notifications fanned out to every Watch stream) serve the `ConfigFeed` that keeps enrich's snapshot current.
 *
 * ```ts
 * const stage = new StateStage({ bus, partition, store: redisStateStore, committed: postgresState });
 * supervisor.start(() => new PartitionActor({ name: 'state', partition, bus, decode: decodeEnrichedBatch,
 *   handle: stage.handle, openMailbox: () => bus.openMailbox({ group: 'state', topic: 'enriched', partition }) }));
 * ```
 */
export {
  validateEvent,
  validateEvents,
  describeViolation,
  type EventLimits,
  type FieldViolation,
} from './validation.js';
export { maxEventBytes, maxRequestBytes, scanPublishRequest } from './request-bounds.js';
export {
  ALL_TENANTS,
  CLIENT_NAME,
  clientKey,
  decodeClientRecord,
  encodeClientRecord,
  IngestAccess,
  IngestClientDirectory,
  listClients,
  newClientToken,
  tenantRefusal,
  type Authentication,
  type CallIdentity,
  type IngestClient,
  type IngestClientRecord,
} from './ingest-clients.js';
export {
  InvalidEventError,
  isInvalidEventError,
  isPipelineError,
  isResourceExhaustedError,
  PipelineError,
  PipelineErrorCode,
  ResourceExhaustedError,
} from './errors.js';
export {
  IngestPublisher,
  MAX_EVENTS_PER_MESSAGE,
  type IngestPublisherOptions,
  type PublishObserver,
  type SentMessage,
} from './ingest-publisher.js';
export { createIngestService, ingestServiceDefinition, STREAM_WINDOW } from './ingest-service.js';
export { ConfigCache, ConfigSnapshot } from './config-snapshot.js';
export { ConfigFeed, type ConfigFeedOptions } from './config-feed.js';
export {
  createConfigService,
  followConfigChanges,
  type CallCredentials,
  type ConfigNotice,
  type PutAuthorization,
} from './config-service.js';
export {
  createEnrichHandler,
  poisonReason,
  decodeEventBatch,
  positionOf,
  DEFAULT_MAX_OUTPUT_EVENTS,
  type EnrichStageOptions,
} from './enrich-stage.js';
export {
  StateStage,
  decodeEnrichedBatch,
  enrichedPoisonReason,
  type StateStageOptions,
} from './state-stage.js';
export { newStateCounters, type StateCounters } from './state-counters.js';
export {
  createWriterProcessor,
  decodeResultBatch,
  newWriterCounters,
  type WriterCounters,
  type WriterProcessor,
} from './writer-stage.js';
export { STAGE_NAMES, STAGES, type StageName } from './stages.js';
export {
  hostPipeline,
  stageProcessors,
  type InProcessPipelineOptions,
  type StageDependencies,
  type StageProcessors,
} from './in-process.js';
export {
  createMemoryStateStore,
  type MemoryStateStore,
  type MemoryStateStoreOptions,
} from './memory-state-store.js';
export { DEFAULT_MAX_MESSAGE_BYTES, encodeChunks, publishChunks } from './publish-chunks.js';
export type {
  CommittedState,
  ConfigRepository,
  TenantConfigInput,
  CommitFence,
  CommittedEvent,
  ResultSink,
  StateFence,
  StateMarker,
  StateReadResult,
  EventClaim,
  StateStore,
} from './ports.js';
export {
  createGroupCommitSink,
  type GroupCommitOptions,
  type GroupCommitSink,
  type GroupCommitTarget,
} from './group-commit.js';
