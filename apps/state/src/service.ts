import {
  createPostgresAccountTransactions,
  InFlightLimit,
  pipelineModeOf,
  stateProcessorFor,
  withAccountLatency,
  withInjectedLatency,
} from '@throughline/ablation';
import { newStateCounters, STAGES } from '@throughline/pipeline';
import { createPostgresPool, createRedisClient, runStageService } from '@throughline/service';
import {
  createPostgresStateSource,
  createRedisStateStore,
  ensureSchema,
  readDeploymentId,
  stateKeyPrefixFor,
} from '@throughline/stores';
import type { Telemetry } from '@throughline/telemetry-sdk';
import { loadSettings } from './config.js';

/** Runs the state service until SIGTERM; telemetry was started by `main.ts` before anything else loaded. */
export async function run(telemetry: Telemetry, instanceId: string): Promise<void> {
  const settings = loadSettings();
  await runStageService({
    spec: STAGES.state,
    settings,
    telemetry,
    instanceId,
    async start({ bus, logger, metrics }) {
      const redis = createRedisClient(settings, logger, {
        maxRetriesPerRequest: 2,
        enableAutoPipelining: false,
      });
      const pool = createPostgresPool(settings, { max: settings.PG_POOL_SIZE, logger });
      // Redis keys carry the database's deployment id: a fresh database never reads another one's state.
      await ensureSchema(pool, settings.DATABASE_MIGRATE);
      const keyPrefix = stateKeyPrefixFor(await readDeploymentId(pool));
      const store = withInjectedLatency(
        createRedisStateStore(redis, {
          dedupHorizonMs: settings.DEDUP_HORIZON_MS,
          accountTtlMs: settings.STATE_ACCOUNT_TTL_MS,
          keyPrefix,
        }),
        settings.INJECT_LATENCY,
        'redis',
      );
      const committed = withInjectedLatency(
        createPostgresStateSource(pool),
        settings.INJECT_LATENCY,
        'postgres',
      );
      const counters = newStateCounters();
      const mode = pipelineModeOf(settings);
      const limit = new InFlightLimit(mode.concurrency);
      const rawAccounts = createPostgresAccountTransactions(pool);
      if (!mode.features.has('cache')) await rawAccounts.prepare();
      // Without the cache, a transaction per event: BEGIN + SELECT … FOR UPDATE, then UPSERT + COMMIT.
      const accounts = withAccountLatency(rawAccounts, settings.INJECT_LATENCY);
      const stageOptions = {
        store,
        committed,
        counters,
        logger,
        maxCachedAccounts: settings.STATE_MAX_CACHED_ACCOUNTS,
        maxOutputEvents: settings.STATE_MAX_OUTPUT_EVENTS,
        partitionCount: settings.PARTITION_COUNT,
      };
      metrics.countBy(
        'tl.state.events',
        'Events the state stage decided on, by tl.outcome: applied, rejected (by the domain), duplicate (applied before: a redelivery or a client retry)',
        'tl.outcome',
        () => ({ applied: counters.applied, rejected: counters.rejected, duplicate: counters.duplicates }),
      );
      metrics.countBy(
        'tl.state.store_recoveries',
        'Partitions rebuilt from PostgreSQL because Redis lost their state, by tl.kind: lost (all of it: restarted empty, flushed) or rolled_back (recent writes: an append-only file replayed short, a replica promoted before it caught up)',
        'tl.kind',
        () => ({ lost: counters.recoveries - counters.rollbacks, rolled_back: counters.rollbacks }),
      );
      metrics.observe('tl.state.cache_hit_ratio', 'Share of account look-ups answered from memory', () => {
        // A new account is a look-up too (memory, store and PostgreSQL all asked): with fresh accounts only, the
        // ratio is 0, not absent.
        const lookups =
          counters.memoryHits + counters.storeHits + counters.rebuiltFromDatabase + counters.newAccounts;
        return Promise.resolve(lookups === 0 ? [] : [{ value: counters.memoryHits / lookups }]);
      });
      return {
        maxTurnMessages: settings.STATE_MAX_TURN_MESSAGES,
        processorFor: (lease) =>
          stateProcessorFor({ bus, mode, limit, accounts, stage: stageOptions }, lease),
        staleBatches: () => counters.staleBatches,
        report: () => ({ ...counters }),
        async close() {
          redis.disconnect();
          await pool.end();
        },
      };
    },
    readyFields: () => ({ features: [...pipelineModeOf(settings).features].join(',') }),
  });
}
