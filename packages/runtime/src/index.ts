/**
 * @throughline/runtime — the actor runtime every stage runs on.
 *
 * `hostStage` runs a stage in a process: it takes a share of the partitions under leases (`PartitionOwnership`,
 * kept in the bus's lease bucket), runs one `PartitionActor` per partition held under a `Supervisor` (restart
 * with backoff on a crash), hands partitions over when instances come and go, and stops an actor whose effects
 * are refused as stale (fenced). `onShutdown` drains on SIGTERM.
 *
 * ```ts
 * const host = await hostStage({ bus, stage: 'writer', topic: 'applied', partitionCount: 16, memberId: 'writer-a1',
 *   decode: decodeResultBatch, processorFor: (lease) => ({ handle: (turn, ctx) => commit(lease, turn, ctx) }) });
 * onShutdown(async () => { await host.stop(); await bus.close(); });
 * ```
 */
export { PartitionActor, type Envelope, type Item, type PartitionActorOptions, type Stall } from './actor.js';
export {
  TurnClock,
  type PositionRange,
  type TurnContext,
  type TurnObserver,
  type TurnScope,
  type TurnStats,
} from './turn.js';
export { Supervisor, type Supervised, type SupervisedHandle, type SupervisorOptions } from './supervisor.js';
export { assignPartitions } from './ownership/assignment.js';
export {
  PartitionOwnership,
  type Lease,
  type OwnershipObserver,
  type PartitionOwnershipOptions,
  type RevokeReason,
} from './ownership/partition-ownership.js';
export {
  readOwnership,
  type MemberView,
  type OwnershipView,
  type PartitionView,
} from './ownership/ownership-view.js';
export {
  decodeLease,
  decodeMember,
  leaseKeys,
  type LeaseRecord,
  type MemberRecord,
} from './ownership/lease-records.js';
export {
  hostStage,
  type PartitionProcessor,
  type StageHost,
  type StageHostOptions,
  type StageSpec,
} from './stage-host.js';
export { instanceIdOf } from './instance-id.js';
export { onShutdown, type ShutdownOptions } from './shutdown.js';
export { ownedPartitions } from './partitioning.js';
export {
  CodedError,
  ensureError,
  fencingEpochOf,
  isFencedError,
  isRuntimeError,
  RuntimeError,
  RuntimeErrorCode,
} from './errors.js';
export { silentLogger, sleep, type Logger } from './logger.js';
export { redactSecrets, redactValue } from './redact.js';
export { SERVICE_NODE_FLAGS } from './node-flags.js';
export { classifyFailure, type FailureClass, type FailureKind } from './failure.js';
