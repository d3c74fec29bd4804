import type { Tracer } from '@opentelemetry/api';
import { createPublishObserver, createTurnObserver } from '@throughline/telemetry';
/**
 * The whole pipeline in one process: the same stages, partition actors and domain code as the five services,
 * wired to an in-memory bus (JetStream's semantics), an in-memory state store (Redis' role) and an embedded
 * PostgreSQL (PGlite, on its own thread) for results and tenant configuration.
 */
import { createMemoryBus, type Bus } from '@throughline/bus';
import type { Event, TenantConfig } from '@throughline/contracts';
import {
  ConfigCache,
  ConfigSnapshot,
  createMemoryStateStore,
  hostPipeline,
  IngestPublisher,
  newStateCounters,
  newWriterCounters,
  STAGE_NAMES,
  STAGES,
  stageProcessors,
  type StateCounters,
  type WriterCounters,
} from '@throughline/pipeline';
import { silentLogger, type Logger, type TurnStats } from '@throughline/runtime';
import { createTenantConfigRepository, migrate, type TenantConfigInput } from '@throughline/stores';
import { CommitStats, observedSink } from './commit-stats.js';
import { EmbeddedDatabase } from './database/embedded-database.js';
import { EmbeddedError, EmbeddedErrorCode } from './errors.js';
import { createEmbeddedCommittedState } from './stores/committed-state.js';
import { deferSecondaryIndexes, ensureSecondaryIndexes } from './stores/bulk-load.js';
import { createCopySink } from './stores/copy-sink.js';
import { sequenceBaseAfter, withSequenceBase } from './sequence-base.js';
import { ensureTenants } from './tenants.js';
import { TurnAccounting, type StageName } from './turn-accounting.js';

export interface EmbeddedPipelineOptions {
  /** The database to use; when absent one is opened in `dataDir` and closed by `stop()`. */
  database?: EmbeddedDatabase;
  /** Directory of the embedded database when `database` is not given. Default `./.throughline/data`. */
  dataDir?: string;
  /** Partitions `P`, one actor per stage each. Default 8. */
  partitionCount?: number;
  /** Tenant configurations created when missing (existing ones are left as they are). Default: none. */
  tenants?: readonly TenantConfigInput[];
  /** Events per ingested message. Default 1000. */
  maxBatchEvents?: number;
  /** How long a partition's ingest batch waits to fill, ms. Default 5. */
  lingerMs?: number;
  /** Events accepted by `publish` and not yet in the bus before `publish` refuses more. Default 200000. */
  maxInFlightEvents?: number;
  /** Messages per enrich and state turn. Default 32. */
  maxTurnMessages?: number;
  /** Messages per writer turn (one transaction). Default 16. */
  writerMaxTurnMessages?: number;
  /**
   * Load into an empty ledger without its non-unique index and build it in `completeBulkLoad()` (or
   * `stop()`): much faster for a large first load. Default false.
   */
  bulkLoad?: boolean;
  /** How long an applied event id is recognised, ms. Default 86400000. */
  dedupHorizonMs?: number;
  /** Called after every turn of every stage. */
  onTurn?: (stage: StageName, stats: TurnStats) => void;
  /** Traces ingest batches and every turn, as the services do (see @throughline/telemetry). Default: none. */
  tracer?: Tracer;
  logger?: Logger;
}

/** Events each stage has processed, and what is waiting between them. */
export interface PipelineProgress {
  /** Events accepted by `publish`. */
  published: number;
  enriched: number;
  /** Events the state stage decided (applied, rejected or skipped as already applied). */
  decided: number;
  /** Results the writer committed (ledger rows inserted or found already there). */
  committed: number;
  /** Events waiting for each stage. */
  backlog: Record<StageName, number>;
}

export interface EmbeddedPipeline {
  readonly database: EmbeddedDatabase;
  readonly partitionCount: number;
  readonly bus: Bus;
  readonly stateCounters: StateCounters;
  readonly writerCounters: WriterCounters;
  /** Outcomes and ingest-to-commit latency of what the writer committed. */
  readonly commits: CommitStats;
  /** Where each stage's time went. */
  readonly turns: TurnAccounting;
  /** Validated events in; resolves once they are in the bus (as ingest answers once JetStream has them). */
  publish(events: readonly Event[]): Promise<void>;
  progress(): PipelineProgress;
  /** Resolves once every stage's mailbox is empty and everything published is committed. */
  drain(opts?: { pollMs?: number; signal?: AbortSignal }): Promise<void>;
  /** Builds the indexes a bulk load deferred (no-op otherwise); call after `drain()`, before verifying. */
  completeBulkLoad(): Promise<void>;
  /** Stores a new configuration version and hands it to the enrich actors at once (the in-process Watch). */
  putConfig(config: TenantConfigInput): Promise<TenantConfig>;
  /** Stops the actors after their turn in progress, closes the bus, and closes the database if it opened it. */
  stop(): Promise<void>;
}

export async function runEmbeddedPipeline(options: EmbeddedPipelineOptions = {}): Promise<EmbeddedPipeline> {
  const partitionCount = options.partitionCount ?? 8;
  if (!Number.isSafeInteger(partitionCount) || partitionCount < 1 || partitionCount > 4096) {
    throw new EmbeddedError(
      EmbeddedErrorCode.invalidArgument,
      `partitionCount must be between 1 and 4096, got ${partitionCount}`,
    );
  }
  const logger = options.logger ?? silentLogger;
  const database =
    options.database ?? (await EmbeddedDatabase.open(options.dataDir ? { dataDir: options.dataDir } : {}));
  try {
    return await start(database, partitionCount, logger, options);
  } catch (err) {
    if (options.database === undefined) await database.close();
    throw err;
  }
}

async function start(
  database: EmbeddedDatabase,
  partitionCount: number,
  logger: Logger,
  options: EmbeddedPipelineOptions,
): Promise<EmbeddedPipeline> {
  const { pool } = database;
  await migrate(pool);
  await ensureSecondaryIndexes(database);
  let indexesDeferred = options.bulkLoad === true && (await deferSecondaryIndexes(database));
  const repo = createTenantConfigRepository(pool);
  if (options.tenants) await ensureTenants(repo, options.tenants);
  const cache = new ConfigCache(new ConfigSnapshot((await repo.list()).configs));

  const { rows } = await pool.query<{ max: string }>(
    'SELECT COALESCE(max(position), 0)::text AS max FROM ledger',
  );
  const bus = withSequenceBase(createMemoryBus({ logger }), sequenceBaseAfter(BigInt(rows[0]?.max ?? '0')));
  await bus.ensureTopology();
  const publisher = new IngestPublisher({
    bus,
    partitionCount,
    maxBatchEvents: options.maxBatchEvents ?? 1000,
    lingerMs: options.lingerMs ?? 5,
    maxInFlightEvents: options.maxInFlightEvents ?? 200_000,
    ...(options.tracer ? { observer: createPublishObserver(options.tracer) } : {}),
  });
  const observer = options.tracer ? createTurnObserver({ tracer: options.tracer }) : undefined;
  const turns = new TurnAccounting();
  const actorOptions = (stage: StageName, maxTurnMessages: number) => ({
    logger,
    maxTurnMessages,
    ...(observer ? { observer } : {}),
    onTurn: (stats: TurnStats) => {
      turns.record(stage, stats);
      options.onTurn?.(stage, stats);
    },
  });
  const partitions = Array.from({ length: partitionCount }, (_, p) => p);
  const stateCounters = newStateCounters();
  const writerCounters = newWriterCounters();
  const commits = new CommitStats();
  const store = createMemoryStateStore(
    options.dedupHorizonMs ? { dedupHorizonMs: options.dedupHorizonMs } : {},
  );
  const committed = await createEmbeddedCommittedState(pool);
  const sink = observedSink(createCopySink(database), commits);

  // The same stages and stage host as the services: each stage holds every partition under a lease.
  const hosts = await hostPipeline({
    bus,
    partitionCount,
    processors: stageProcessors({
      bus,
      partitionCount,
      snapshot: () => cache.current,
      stateStore: store,
      committed,
      sink,
      stateCounters,
      writerCounters,
      logger,
    }),
    actor: (name) =>
      actorOptions(
        name,
        name === 'writer' ? (options.writerMaxTurnMessages ?? 16) : (options.maxTurnMessages ?? 32),
      ),
    logger,
  });

  let published = 0;
  const progress = (): PipelineProgress => {
    const enriched = turns.events('enrich');
    const decided = turns.events('state');
    const resultsIn = stateCounters.applied + stateCounters.rejected;
    const committedRows = turns.events('writer');
    return {
      published,
      enriched,
      decided,
      committed: committedRows,
      backlog: {
        enrich: Math.max(0, published - enriched),
        state: Math.max(0, enriched - decided),
        writer: Math.max(0, resultsIn - committedRows),
      },
    };
  };

  const idle = async (): Promise<boolean> => {
    if (publisher.inFlightEvents > 0) return false;
    for (const name of STAGE_NAMES) {
      for (const partition of partitions) {
        const b = await bus.backlog({ group: name, topic: STAGES[name].consumes, partition });
        if (b.pending > 0 || b.ackPending > 0) return false;
      }
    }
    return true;
  };

  let stopped = false;
  return {
    database,
    partitionCount,
    bus,
    stateCounters,
    writerCounters,
    commits,
    turns,
    async publish(events) {
      await publisher.publish(events);
      published += events.length;
    },
    progress,
    async drain({ pollMs = 20, signal } = {}) {
      while (!(await idle())) {
        if (signal?.aborted) throw new EmbeddedError(EmbeddedErrorCode.closed, 'draining was aborted');
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    },
    async completeBulkLoad() {
      if (!indexesDeferred) return;
      await ensureSecondaryIndexes(database);
      indexesDeferred = false;
    },
    async putConfig(config) {
      const stored = await repo.put(config);
      cache.apply({ config: stored, snapshotComplete: false });
      return stored;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await publisher.close();
      await Promise.all(Object.values(hosts).map((host) => host.stop()));
      await bus.close();
      if (indexesDeferred) await ensureSecondaryIndexes(database);
      if (options.database === undefined) await database.close();
    },
  };
}
