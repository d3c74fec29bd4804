/** The embedded pipeline end to end: the demo's numbers against the database, restarts, configuration changes. */
import { LedgerWorkload } from '@throughline/ledger';
import { verifyLedger } from '@throughline/stores';
import { afterAll, describe, expect, it } from 'vitest';
import {
  demoTenants,
  EmbeddedDatabase,
  runDemo,
  runEmbeddedPipeline,
  type DemoReport,
} from '@throughline/embedded';
import { tempDir } from './fixtures.js';

const dir = tempDir('pipeline');
const EVENTS = 20_000;
let report: DemoReport;
let db: EmbeddedDatabase | undefined;
afterAll(async () => {
  await db?.close();
});

async function outcomeCounts(database: EmbeddedDatabase): Promise<Record<string, number>> {
  const { rows } = await database.pool.query<{ outcome: string; reason: string | null; n: number }>(
    'SELECT outcome, reject_reason AS reason, count(*)::int AS n FROM ledger GROUP BY 1, 2',
  );
  return Object.fromEntries(rows.map((r) => [r.reason ?? r.outcome, r.n]));
}

describe('runDemo', () => {
  it('processes every event once and reports what the database holds', async () => {
    const phases = new Set<string>();
    report = await runDemo({
      events: EVENTS,
      accounts: 2000,
      seed: 7,
      dataDir: dir,
      progressIntervalMs: 50,
      onProgress: (p) => phases.add(p.phase),
    });
    expect(phases).toContain('running');
    expect(report.verify).toMatchObject({ ok: true, totalViolations: 0, checkedEvents: EVENTS });
    expect(report.committedRows).toBe(EVENTS);
    expect(report.outcomes.applied + report.outcomes.rejected).toBe(EVENTS);
    for (const stage of ['enrich', 'state', 'writer'] as const)
      expect(report.stages[stage].events).toBe(EVENTS);
    expect(report.latencyMs.p50).toBeLessThanOrEqual(report.latencyMs.p99);
    expect(report.eventsPerSecond).toBeGreaterThan(0);

    db = await EmbeddedDatabase.open({ dataDir: dir, create: false });
    const counts = await outcomeCounts(db);
    expect(counts.APPLIED).toBe(report.outcomes.applied);
    expect(Object.fromEntries(Object.entries(counts).filter(([k]) => k !== 'APPLIED'))).toEqual(
      report.outcomes.rejectedByReason,
    );
    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(DISTINCT account_id)::int AS n FROM ledger',
    );
    expect(report.verify.checkedAccounts).toBe(rows[0]!.n);
    const indexes = await db.pool.query<{ indexname: string }>(
      `SELECT indexname FROM pg_indexes WHERE tablename = 'ledger' ORDER BY 1`,
    );
    expect(indexes.rows.map((r) => r.indexname)).toEqual(['ledger_account_position_idx', 'ledger_pkey']);
  });

  it('applies nothing twice when the same events come again after a restart', async () => {
    const pipeline = await runEmbeddedPipeline({ database: db!, partitionCount: 8 });
    try {
      const events = new LedgerWorkload({ accounts: 2000, seed: 7 }).take(5000);
      const fresh = new LedgerWorkload({ accounts: 2000, seed: 8 }).take(1000);
      await pipeline.publish(events);
      await pipeline.publish(fresh);
      await pipeline.drain();
      expect(pipeline.stateCounters.duplicates).toBe(5000);
      expect(pipeline.commits.insertedRows).toBe(1000);
    } finally {
      await pipeline.stop();
    }
    const verify = await verifyLedger(db!.pool);
    expect(verify).toMatchObject({ ok: true, checkedEvents: EVENTS + 1000 });
  });

  it('moves no balance for a retry after the de-duplication horizon, nor for an event id reused on another account', async () => {
    const pipeline = await runEmbeddedPipeline({ database: db!, partitionCount: 8, dedupHorizonMs: 1 });
    try {
      const events = new LedgerWorkload({ accounts: 500, seed: 21, idPrefix: 'horizon' }).take(2000);
      await pipeline.publish(events);
      await pipeline.drain();
      const before = pipeline.stateCounters.duplicates;
      await new Promise((r) => setTimeout(r, 20)); // the state store forgets the ids after twice the horizon
      const reused = new LedgerWorkload({ accounts: 500, seed: 22, idPrefix: 'other' })
        .take(500)
        .map((e, i) => ({ ...e, eventId: events[i]!.eventId }));
      await pipeline.publish([...events.slice(0, 1000), ...reused]);
      await pipeline.drain();
      expect(pipeline.stateCounters.duplicates - before).toBe(1500);
    } finally {
      await pipeline.stop();
    }
    const verify = await verifyLedger(db!.pool);
    expect(verify).toMatchObject({ ok: true, totalViolations: 0, checkedEvents: EVENTS + 1000 + 2000 });
  });

  it('hands a configuration change to the enrich actors without a restart', async () => {
    const pipeline = await runEmbeddedPipeline({ database: db!, partitionCount: 4, tenants: demoTenants(5) });
    try {
      const [tenant1] = demoTenants(1);
      const stored = await pipeline.putConfig({ ...tenant1!, enabled: false });
      await pipeline.publish(
        new LedgerWorkload({ accounts: 50, tenants: 1, seed: 9, idPrefix: 'cfg' }).take(500),
      );
      await pipeline.drain();
      const { rows } = await db!.pool.query<{ n: number; version: string }>(
        `SELECT count(*)::int AS n, max(config_version)::text AS version FROM ledger WHERE event_id LIKE 'cfg-%' AND reject_reason = 'TENANT_DISABLED'`,
      );
      expect(rows[0]).toEqual({ n: 500, version: String(stored.version) });
    } finally {
      await pipeline.stop();
    }
  });
});
