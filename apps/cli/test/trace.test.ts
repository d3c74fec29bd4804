/**
 * `throughline trace <event_id>`: the ledger row from a real PostgreSQL, the spans from Jaeger's query API (served
 * here by a stand-in: no Jaeger runs on this machine) or from a file of OTLP JSON. The end-to-end case, on spans
 * the services exported themselves, is in packages/e2e (otlp-explain.test.ts).
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '@throughline/stores';
import { startPostgres, type PostgresHandle } from '@throughline/testkit';
import { runCli, tempDir } from './cli.js';

const dir = tempDir('trace');
const POSITION = (4242n << 16n) | 7n;
const RANGE = { first: (4242n << 16n).toString(), last: ((4242n << 16n) | 99n).toString() };

interface Def {
  id: string;
  name: string;
  stage: string;
  start: number;
  end: number;
  attrs?: Record<string, number | string>;
  links?: string[];
  parent?: string;
  /** Spans sharing a trace: its id is that of the first span named here. */
  trace?: string;
}

const T0 = 1_700_000_000_000;
const traceIdOf = (id: string): string => id.padStart(32, '0');
const spanIdOf = (id: string): string => id.padStart(16, '0');

/** One event's path; the writer waited 500 ms on PostgreSQL. Ids are hex. */
const defs: Def[] = [
  { id: 'a1', name: 'throughline.v1.IngestService/PublishBatch', stage: 'ingest', start: 0, end: 20 },
  {
    id: 'a2',
    name: 'publish tl.ingested.3',
    stage: 'ingest',
    start: 8,
    end: 12,
    parent: 'a1',
    trace: 'a1',
    attrs: { 'tl.batch_ids': 'ing-3-xyz', 'tl.seqs': '4242', 'tl.events': 100 },
  },
  {
    id: 'b1',
    name: 'process tl.ingested.3',
    stage: 'enrich',
    start: 14,
    end: 19,
    links: ['a2'],
    attrs: { 'tl.time.dependency_ms.nats': 3, 'tl.time.compute_ms': 2 },
  },
  {
    id: 'c1',
    name: 'process tl.enriched.3',
    stage: 'state',
    start: 20,
    end: 30,
    links: ['b1'],
    attrs: { 'tl.time.dependency_ms.redis': 6, 'tl.time.compute_ms': 4 },
  },
  {
    id: 'd1',
    name: 'process tl.applied.3',
    stage: 'writer',
    start: 40,
    end: 550,
    links: ['c1'],
    attrs: { 'tl.time.dependency_ms.postgres': 500, 'tl.time.compute_ms': 10 },
  },
];

const traceOfDef = (d: Def): string => traceIdOf(d.trace ?? d.id);
const byId = new Map(defs.map((d) => [d.id, d]));
const attributesOf = (d: Def): Record<string, number | string> => ({
  'tl.stage': d.stage,
  'tl.position.first': RANGE.first,
  'tl.position.last': RANGE.last,
  ...d.attrs,
});

function otlpSpans() {
  return defs.map((d) => ({
    traceId: traceOfDef(d),
    spanId: spanIdOf(d.id),
    ...(d.parent ? { parentSpanId: spanIdOf(d.parent) } : {}),
    name: d.name,
    startTimeUnixNano: String(BigInt(T0 + d.start) * 1_000_000n),
    endTimeUnixNano: String(BigInt(T0 + d.end) * 1_000_000n),
    attributes: Object.entries(attributesOf(d)).map(([key, v]) => ({
      key,
      value: typeof v === 'string' ? { stringValue: v } : { doubleValue: v },
    })),
    links: (d.links ?? []).map((l) => ({ traceId: traceOfDef(byId.get(l)!), spanId: spanIdOf(l) })),
  }));
}

/** Jaeger's `/api/traces/{id}` answer: links as FOLLOWS_FROM references, the parent as CHILD_OF. */
function jaegerTrace(traceId: string) {
  const spans = defs
    .filter((d) => traceOfDef(d) === traceId)
    .map((d) => ({
      traceID: traceId,
      spanID: spanIdOf(d.id),
      operationName: d.name,
      startTime: (T0 + d.start) * 1000,
      duration: (d.end - d.start) * 1000,
      processID: 'p1',
      tags: Object.entries(attributesOf(d)).map(([key, value]) => ({ key, value })),
      references: [
        ...(d.parent ? [{ refType: 'CHILD_OF', traceID: traceId, spanID: spanIdOf(d.parent) }] : []),
        ...(d.links ?? []).map((l) => ({
          refType: 'FOLLOWS_FROM',
          traceID: traceOfDef(byId.get(l)!),
          spanID: spanIdOf(l),
        })),
      ],
    }));
  return spans.length === 0
    ? undefined
    : { traceID: traceId, spans, processes: { p1: { serviceName: 's' } } };
}

describe('throughline trace', () => {
  let postgres: PostgresHandle;
  let databaseUrl: string;

  beforeAll(async () => {
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase('trace');
    const pool = new pg.Pool({ connectionString: databaseUrl });
    try {
      await migrate(pool);
      const insert = `INSERT INTO ledger (event_id, partition, account_id, tenant_id, position, outcome, direction,
          amount_minor, currency, delta_minor, fee_minor, balance_after_minor, config_version, occurred_at,
          accepted_at, trace_id)
        VALUES ($1, 3, 'acc-1', 't', $2, 'APPLIED', 'CREDIT', 1, 'EUR', 1, 0, 1, 1, now(), now(), decode($3, 'hex'))`;
      await pool.query(insert, ['pay-1', POSITION.toString(), traceIdOf('d1')]);
      await pool.query(insert, ['untraced', POSITION.toString(), null]);
    } finally {
      await pool.end();
    }
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  it("follows the event through Jaeger's query API, one trace at a time, and names the slowest hop", async () => {
    const asked: string[] = [];
    const server = createServer((req, res) => {
      const traceId = /^\/api\/traces\/([0-9a-f]+)$/.exec(req.url ?? '')?.[1];
      asked.push(req.url ?? '');
      const trace = traceId && jaegerTrace(traceId);
      if (!trace) res.writeHead(404, { 'content-type': 'application/json' }).end('{"data":null}');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: [trace] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const jaeger = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    try {
      const run = await runCli(['trace', 'pay-1', '--jaeger', jaeger, '--database-url', databaseUrl]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^ingest\s+PublishBatch → publish tl\.ingested\.3 .* batch ing-3-xyz/m);
      expect(run.stdout).toMatch(/^enrich\s+process tl\.ingested\.3\s+\+14\.0 ms\s+2\.0 ms\s+5\.0 ms/m);
      expect(run.stdout).toMatch(
        /^writer\s+process tl\.applied\.3\s+\+40\.0 ms\s+10\.0 ms\s+510\.0 ms\s+postgres/m,
      );
      expect(run.stdout).toMatch(/The slowest hop is writer: .* mostly waiting on postgres \(500\.0 ms\)/);
      expect(run.stdout).toContain(`${jaeger}/trace/${traceIdOf('d1')}`);
      expect(run.stdout).toContain(`request  ${traceIdOf('a1')}`);
      expect([...new Set(asked)].sort()).toEqual(
        ['a1', 'b1', 'c1', 'd1'].map((id) => `/api/traces/${traceIdOf(id)}`).sort(),
      );
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('reads a file of OTLP JSON, and prints the path as JSON', async () => {
    const file = join(dir, 'spans.json');
    writeFileSync(file, JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: otlpSpans() }] }] }));
    const run = await runCli(['trace', 'pay-1', '--file', file, '--json'], {
      env: { DATABASE_URL: databaseUrl },
    });
    expect(run.code).toBe(0);
    const path = JSON.parse(run.stdout) as {
      row: { position: string; traceId: string };
      hops: { stage: string; queuedMs: number }[];
      slowest: { stage: string; dominant: string };
    };
    expect(path.row).toMatchObject({ position: POSITION.toString(), traceId: traceIdOf('d1') });
    expect(path.hops.map((h) => h.stage)).toEqual(['ingest', 'enrich', 'state', 'writer']);
    expect(path.slowest).toMatchObject({ stage: 'writer', dominant: 'postgres' });
  });

  it('says why when the event has no row, its row no trace id, or no span source is given', async () => {
    const file = join(dir, 'empty.json');
    writeFileSync(file, '');
    const missing = await runCli(['trace', 'nope', '--file', file, '--database-url', databaseUrl]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no ledger row for event "nope"/);
    const untraced = await runCli(['trace', 'untraced', '--file', file, '--database-url', databaseUrl]);
    expect(untraced.code).toBe(1);
    expect(untraced.stderr).toMatch(/has no trace id: its commit was not traced/);
    const notExported = await runCli(['trace', 'pay-1', '--file', file, '--database-url', databaseUrl]);
    expect(notExported.code).toBe(1);
    expect(notExported.stdout).toMatch(/^writer: not found — no writer span of trace/m);
    const usage = await runCli(['trace', 'pay-1', '--database-url', databaseUrl]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/give --file <path> or --jaeger <url>/);
    expect(usage.stderr).not.toContain(databaseUrl);
  });
});
