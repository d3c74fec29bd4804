import {
  InFlightLimit,
  pipelineModeOf,
  withInjectedLatency,
  writerProcessorFor,
} from '@throughline/ablation';
import { createGroupCommitSink, newWriterCounters, STAGES } from '@throughline/pipeline';
import { createLogger, createPostgresPool, runStageService } from '@throughline/service';
import {
  createPostgresSink,
  ensureSchema,
  grantServiceRoles,
  migrate,
  readRolePasswords,
} from '@throughline/stores';
import type { Telemetry } from '@throughline/telemetry-sdk';
import { loadSettings } from './config.js';

/** Runs the writer service until SIGTERM; telemetry was started by `main.ts` before anything else loaded. */
export async function run(telemetry: Telemetry, instanceId: string): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('writer', settings.LOG_LEVEL, { instance: instanceId });
  const pool = createPostgresPool(settings, { max: settings.PG_POOL_SIZE, logger });
  if (settings.MIGRATE_ONLY) {
    // Read before anything changes: a Secret not mounted fails the Job with the database untouched.
    const passwords =
      settings.DATABASE_ROLE_PASSWORDS_DIR === undefined
        ? {}
        : readRolePasswords(settings.DATABASE_ROLE_PASSWORDS_DIR);
    const migration = await migrate(pool);
    logger.info('schema up to date', { ...migration });
    if (settings.DATABASE_ROLES_PREFIX !== undefined) {
      const roles = await grantServiceRoles(pool, { prefix: settings.DATABASE_ROLES_PREFIX, passwords });
      for (const role of roles) logger.info('service role granted', { ...role });
    }
    await pool.end();
    await telemetry.shutdown();
    process.exit(0);
  }
  logger.info('schema up to date', { ...(await ensureSchema(pool, settings.DATABASE_MIGRATE)) });

  await runStageService({
    spec: STAGES.writer,
    settings,
    telemetry,
    instanceId,
    start({ metrics }) {
      const store = withInjectedLatency(createPostgresSink(pool), settings.INJECT_LATENCY, 'postgres');
      // Batched: the partitions' turns share statements (group commit); naive: one statement per row, as it asks.
      const groupSink = createGroupCommitSink(store, { maxInFlight: settings.WRITER_COMMITS_IN_FLIGHT });
      const counters = newWriterCounters();
      metrics.countBy(
        'tl.writer.rows',
        'Ledger rows the writer committed, by tl.outcome: inserted, or duplicate (the row was there already: a redelivered result batch whose commit had landed before its ack, or an event id repeated within one commit)',
        'tl.outcome',
        () => ({ inserted: counters.committedRows, duplicate: counters.duplicateRows }),
      );
      const mode = pipelineModeOf(settings);
      const limit = new InFlightLimit(mode.concurrency);
      return Promise.resolve({
        maxTurnMessages: settings.WRITER_MAX_TURN_MESSAGES,
        processorFor: (lease) =>
          writerProcessorFor({ mode, limit, batched: groupSink, sink: store, counters }, lease),
        staleBatches: () => counters.staleBatches,
        report: () => ({ ...counters, groupCommit: groupSink.stats }),
        close: () => pool.end(),
      });
    },
    readyFields: () => ({ features: [...pipelineModeOf(settings).features].join(',') }),
  });
}
