/**
 * Runs one stage in this process: takes its share of the partitions under leases (`PartitionOwnership`), runs a
 * supervised `PartitionActor` per partition held, each on the mailbox of its lease's epoch, and hands partitions
 * over cooperatively when the members change. The services and the embedded pipeline both run their stages here.
 *
 * ```ts
 * const host = await hostStage({ bus, stage: 'writer', topic: 'applied', partitionCount: 16, memberId,
 *   decode: decodeResultBatch, processorFor: (lease) => writerProcessor(lease) });
 * // … later
 * await host.stop(); // every partition finishes its turn, acks, and is released to the other instances
 * ```
 */
import type { Bus, BusMessage } from '@throughline/bus';
import type { Topic } from '@throughline/contracts';
import { PartitionActor, type Envelope, type Item, type PartitionActorOptions, type Stall } from './actor.js';
import { fencingEpochOf, isFencedError } from './errors.js';
import type { FailureClass } from './failure.js';
import { silentLogger, type Logger } from './logger.js';
import {
  PartitionOwnership,
  type Lease,
  type OwnershipObserver,
  type RevokeReason,
} from './ownership/partition-ownership.js';
import { Supervisor, type SupervisedHandle, type SupervisorOptions } from './supervisor.js';
import type { TurnContext } from './turn.js';

/** A stage as the pipeline's table describes it: its name (also its consumer group), its input topic, its decoder. */
export interface StageSpec<T> {
  readonly name: string;
  /** The topic whose partitions the stage's actors consume. */
  readonly consumes: Topic;
  /** The topic it publishes to, if any. */
  readonly produces: Topic | undefined;
  /** Decodes one message; a throw is poison (the message is dead-lettered). */
  readonly decode: (msg: BusMessage) => T;
  /** Splits a message into its items, so poison is dead-lettered item by item (see `PartitionActorOptions.split`). */
  readonly split?: (envelope: Envelope<T>) => Item<T>[] | undefined;
}

/** What a stage does with one partition under one lease. */
export interface PartitionProcessor<T> {
  /**
   * Runs before the partition's mailbox opens, at every start of its actor: makes the stores refuse the effects
   * of earlier owners from now on. Throws a fenced error when a newer owner already raised them.
   */
  claim?(): Promise<void>;
  /** Processes one turn; its output is durable when it resolves (the actor acks afterwards). */
  handle(turn: Envelope<T>[], ctx: TurnContext): Promise<void>;
}

export interface StageHostOptions<T> {
  bus: Bus;
  /** The stage (`enrich`, `state`, `writer`): the actors' name and consumer group. */
  stage: string;
  /** The topic it consumes. */
  topic: Topic;
  partitionCount: number;
  /** This instance's id among the stage's live instances (`[A-Za-z0-9_-]`). */
  memberId: string;
  /** Ask for exactly these partitions (still under leases) instead of a share. Default: a share. */
  staticPartitions?: readonly number[];
  decode: (msg: BusMessage) => T;
  /** Splits a message into its items, so poison is dead-lettered item by item (see `PartitionActorOptions.split`). */
  split?: (envelope: Envelope<T>) => Item<T>[] | undefined;
  /** Makes the processor of a partition held under `lease` (again at every restart of its actor). */
  processorFor: (lease: Lease) => PartitionProcessor<T>;
  /** Further actor options (turn size, retries, tracing, metrics hook). */
  actor?: Partial<
    Omit<
      PartitionActorOptions<T>,
      'name' | 'partition' | 'bus' | 'openMailbox' | 'decode' | 'split' | 'handle' | 'claim' | 'logger'
    >
  >;
  supervisor?: Omit<SupervisorOptions, 'logger' | 'isFinal'>;
  /** Heartbeat of registrations and leases. Default a quarter of the lease time to live. */
  renewIntervalMs?: number;
  observer?: OwnershipObserver;
  logger?: Logger;
}

export interface StageHost {
  readonly stage: string;
  /** Leases held and processed now. */
  owned(): Lease[];
  /** The partitions this instance should own according to the members it sees. */
  target(): number[];
  /** Partitions given up because their effects were refused as stale (another instance held a newer lease). */
  readonly fencedPartitions: number;
  /** Effects refused as stale: every claim or turn of this instance that failed with a fenced error. */
  readonly refusedEffects: number;
  /** Supervisor restarts after crashes. */
  readonly restarts: number;
  /** Partitions whose turn is waiting for a dependency now (retried until it passes), oldest stall first. */
  stalled(): Stall[];
  /** Time partitions spent stalled so far, summed over partitions (ongoing stalls included), in ms. */
  stalledMs(): number;
  /** Failed turn attempts so far, by kind, dependency and reason. */
  failures(): (FailureClass & { count: number })[];
  /** Deregisters, stops every partition (each finishing its turn and acking) and releases the leases. */
  stop(): Promise<void>;
}

export async function hostStage<T>(opts: StageHostOptions<T>): Promise<StageHost> {
  const logger = opts.logger ?? silentLogger;
  const { bus, stage, topic } = opts;
  const supervisor = new Supervisor({ ...opts.supervisor, logger, isFinal: isFencedError });
  const running = new Map<number, { lease: Lease; handle: SupervisedHandle }>();
  let fencedPartitions = 0;
  let refusedEffects = 0;
  const stalls = new Map<number, Stall>();
  let stalledMsEnded = 0;
  const failures = new Map<string, FailureClass & { count: number }>();
  const hooks = opts.actor ?? {};
  /** Counts (and logs) every attempt of this instance that a store or the bus refused as stale. */
  const counted = async <R>(lease: Lease, work: () => Promise<R>): Promise<R> => {
    try {
      return await work();
    } catch (err) {
      if (isFencedError(err)) {
        refusedEffects++;
        logger.warn(`${stage}: effect refused, a newer lease epoch owns partition ${lease.partition}`, {
          partition: lease.partition,
          epoch: lease.epoch,
          newerEpoch: fencingEpochOf(err),
          error: err instanceof Error ? err.message : String(err),
        });
      }
      throw err;
    }
  };

  const start = (lease: Lease): void => {
    const { partition, epoch } = lease;
    const handle = supervisor.start(() => {
      const processor = opts.processorFor(lease);
      return new PartitionActor<T>({
        ...opts.actor,
        logger,
        name: stage,
        partition,
        bus,
        decode: opts.decode,
        ...(opts.split ? { split: opts.split } : {}),
        onFailure: (failure) => {
          const key = `${failure.kind}\u0000${failure.dependency}\u0000${failure.reason}`;
          const entry = failures.get(key);
          if (entry) entry.count++;
          else failures.set(key, { ...failure, count: 1 });
          hooks.onFailure?.(failure);
        },
        onStall: (stall) => {
          stalls.set(partition, stall);
          hooks.onStall?.(stall);
        },
        onStallEnd: (stall, stalledMs) => {
          if (stalls.get(partition)?.sinceMs === stall.sinceMs) stalls.delete(partition);
          stalledMsEnded += stalledMs;
          hooks.onStallEnd?.(stall, stalledMs);
        },
        handle: (turn, ctx) => counted(lease, () => processor.handle(turn, ctx)),
        ...(processor.claim ? { claim: () => counted(lease, () => processor.claim!()) } : {}),
        openMailbox: () => bus.openMailbox({ group: stage, topic, partition, epoch }),
      });
    });
    running.set(partition, { lease, handle });
    void handle.done.then((err) => {
      if (running.get(partition)?.handle === handle) running.delete(partition);
      if (err !== undefined && isFencedError(err)) {
        fencedPartitions++;
        ownership.lose(partition, err.message, fencingEpochOf(err));
      }
    });
  };

  const stop = async (lease: Lease, _reason: RevokeReason): Promise<void> => {
    const current = running.get(lease.partition);
    if (current === undefined || current.lease.epoch !== lease.epoch) return;
    await current.handle.stop();
  };

  const ownership = new PartitionOwnership({
    bucket: await bus.leases(),
    stage,
    memberId: opts.memberId,
    partitionCount: opts.partitionCount,
    ...(opts.staticPartitions ? { staticPartitions: opts.staticPartitions } : {}),
    ...(opts.renewIntervalMs ? { renewIntervalMs: opts.renewIntervalMs } : {}),
    ...(opts.observer ? { observer: opts.observer } : {}),
    logger,
    start,
    stop,
  });
  await ownership.start();

  return {
    stage,
    owned: () => ownership.owned(),
    target: () => ownership.target(),
    get fencedPartitions() {
      return fencedPartitions;
    },
    get refusedEffects() {
      return refusedEffects;
    },
    get restarts() {
      return supervisor.restarts;
    },
    stalled: () => [...stalls.values()].sort((a, b) => a.sinceMs - b.sinceMs),
    stalledMs() {
      const now = Date.now();
      let ms = stalledMsEnded;
      for (const stall of stalls.values()) ms += now - stall.sinceMs;
      return ms;
    },
    failures: () => [...failures.values()].map((f) => ({ ...f })),
    async stop() {
      await ownership.stop();
      await supervisor.stop();
    },
  };
}
