/** `throughline demo` at a small size: its summary against the database, then `verify` on the same directory. */
import { join } from 'node:path';
import { EmbeddedDatabase, type DemoReport } from '@throughline/embedded';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './cli.js';

const dir = tempDir('demo');
const EVENTS = 20_000;

describe('throughline demo', () => {
  it('reports numbers the database agrees with, and verify agrees', async () => {
    const dataDir = join(dir, 'json');
    const run = await runCli([
      'demo',
      '--events',
      String(EVENTS),
      '--accounts',
      '2000',
      '--seed',
      '3',
      '--data-dir',
      dataDir,
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as DemoReport;
    expect(report).toMatchObject({
      events: EVENTS,
      committedRows: EVENTS,
      verify: { ok: true, checkedEvents: EVENTS },
    });
    // Where the time went comes from the demo's own spans, read the way `throughline explain` reads them.
    expect(report.explanation.stages.map((s) => s.stage)).toEqual(['ingest', 'enrich', 'state', 'writer']);
    for (const stage of report.explanation.stages) expect(stage.events).toBe(EVENTS);
    expect(report.explanation.sentence).toMatch(/^The bottleneck is (ingest|enrich|state|writer): /);

    const db = await EmbeddedDatabase.open({ dataDir, create: false });
    try {
      const { rows } = await db.pool.query<{ outcome: string; reason: string | null; n: number }>(
        'SELECT outcome, reject_reason AS reason, count(*)::int AS n FROM ledger GROUP BY 1, 2',
      );
      const applied = rows.find((r) => r.outcome === 'APPLIED')?.n;
      const rejected = Object.fromEntries(
        rows.filter((r) => r.outcome === 'REJECTED').map((r) => [r.reason, r.n]),
      );
      expect(applied).toBe(report.outcomes.applied);
      expect(rejected).toEqual(report.outcomes.rejectedByReason);
      const latency = await db.pool.query<{ p50: number; p99: number }>(
        `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms)::int AS p50, percentile_disc(0.99) WITHIN GROUP (ORDER BY ms)::int AS p99
         FROM (SELECT extract(epoch FROM committed_at - accepted_at) * 1000 AS ms FROM ledger) AS l`,
      );
      // The database's commit timestamp is taken at the start of the transaction, the report's after COMMIT.
      expect(latency.rows[0]!.p99).toBeLessThanOrEqual(report.latencyMs.p99 + 1);
      expect(latency.rows[0]!.p50).toBeLessThanOrEqual(report.latencyMs.p50 + 1);
    } finally {
      await db.close();
    }

    const verified = await runCli(['verify', '--data-dir', dataDir]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(/^OK: 20,000 ledger rows and [\d,]+ accounts in .* hold every invariant/);
  });

  it('shows progress and a summary of outcomes, latency, time split and verify', async () => {
    const run = await runCli([
      'demo',
      '--events',
      '5000',
      '--accounts',
      '500',
      '--data-dir',
      join(dir, 'text'),
    ]);
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/^throughline demo: 5,000 events, 500 accounts, 5 tenants, seed 1, 8 partitions/);
    expect(out).toMatch(/5,000 events committed in [\d.]+ s: [\d,]+ events\/s/);
    expect(out).toMatch(/Ingest → commit latency\s+p50 [\d,]+ ms\s+p99 [\d,]+ ms/);
    expect(out).toMatch(/applied\s+[\d,]+\s+[\d.]+%/);
    expect(out).toMatch(/Where the time went/);
    expect(out).toMatch(/^writer\s+[\d,]+\s+5000\s/m);
    expect(out).toMatch(/The bottleneck is (ingest|enrich|state|writer): /);
    expect(out).toMatch(/embedded mode: postgres is PGlite/);
    expect(out).toMatch(/Verify OK: 5,000 ledger rows/);
  });

  it('makes verify fail, printing each violation, when the ledger is tampered with', async () => {
    const dataDir = join(dir, 'json');
    const db = await EmbeddedDatabase.open({ dataDir, create: false });
    await db.pool.query(
      `UPDATE balances SET balance_minor = balance_minor + 7 WHERE account_id IN ('acc-0', 'acc-1')`,
    );
    await db.close();
    const run = await runCli(['verify', '--data-dir', dataDir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^FAILED: 2 violations/);
    expect(run.stdout).toMatch(/balance-mismatch \(account acc-0\): balance -?\d+ != sum of applied deltas/);
    expect(run.stdout).toMatch(/balance-mismatch \(account acc-1\)/);
  });
});
