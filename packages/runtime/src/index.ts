/**
 * @throughline/runtime — the actor runtime every stage runs on.
 *
 * A process owns a set of partitions (`ownedPartitions`), runs one `PartitionActor` per owned partition under a
 * `Supervisor` (restart with backoff on a crash), and drains on SIGTERM (`onShutdown`).
 *
 * ```ts
 * const supervisor = new Supervisor({ logger });
 * for (const partition of ownedPartitions(16, index, count)) {
 *   supervisor.start(() => new PartitionActor({ name: 'writer', partition, bus, decode, handle,
 *     openMailbox: () => bus.openMailbox({ group: 'writer', topic: 'applied', partition }) }));
 * }
 * onShutdown(async () => { await supervisor.stop(); await bus.close(); });
 * ```
 */
export { PartitionActor, type Envelope, type PartitionActorOptions } from './actor.js';
export { TurnClock, type TurnContext, type TurnObserver, type TurnScope, type TurnStats } from './turn.js';
export { Supervisor, type Supervised, type SupervisorOptions } from './supervisor.js';
export { onShutdown, type ShutdownOptions } from './shutdown.js';
export { ownedPartitions, ownedPartitionsFromEnv } from './partitioning.js';
export { ensureError, isRuntimeError, isTransientError, RuntimeError, RuntimeErrorCode } from './errors.js';
export { silentLogger, sleep, type Logger } from './logger.js';
export { SERVICE_NODE_FLAGS } from './node-flags.js';
export { startPartitionActors, type PartitionActorsOptions } from './partition-actors.js';
