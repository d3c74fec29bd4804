import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWorkload } from '@throughline/ledger';
import { explainSpans, formatExplanation, parseOtlpJsonFile } from '@throughline/telemetry';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';
import { sendEvents, startStack, waitForIdle, waitForLedger, type Stack } from './stack.js';

describe('traces exported over OTLP/HTTP name the stage made slow on purpose', () => {
  let receiver: OtlpReceiver;
  let stack: Stack;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    stack = await startStack({
      partitions: 4,
      stateInstances: 1,
      writerInstances: 1,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '200' },
      // Every commit of the writer waits 1 s more, as if PostgreSQL were far away, and a turn commits one
      // message: batching can no longer hide the wait, and the writer becomes the bottleneck. (The state stage
      // waits on PostgreSQL too, for its per-turn ledger look-up: on a loaded CI machine one event's state hop
      // took 750 ms, 359 ms of it on PostgreSQL, above the 500 ms the writer was given before.)
      serviceEnv: { writer: { INJECT_LATENCY: 'postgres=1000ms', WRITER_MAX_TURN_MESSAGES: '1' } },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  it('explain finds the writer waiting on postgres', async () => {
    const events = new LedgerWorkload({ accounts: 500, seed: 31, idPrefix: 'otlp' }).take(12_000);
    await sendEvents(stack.ingest, events, { batchSize: 500, concurrency: 4 });
    await waitForLedger(stack.pool, events.length);
    await waitForIdle(stack);
    // A graceful stop flushes every service's spans.
    await Promise.all([...stack.services.values()].map((s) => s.kill('SIGTERM')));
    const file = join(mkdtempSync(join(tmpdir(), 'tl-otlp-')), 'spans.jsonl');
    writeFileSync(file, receiver.requests.map((r) => JSON.stringify(r)).join('\n'));
    process.stdout.write(stack.services.get('writer')!.output().slice(-3000) + '\n');
    const spans = parseOtlpJsonFile((await import('node:fs')).readFileSync(file, 'utf8'));
    const services = new Set(spans.map((s) => s.service));
    for (const name of ['ingest', 'enrich', 'state', 'writer'])
      expect(services).toContain(`throughline-${name}`);
    const explanation = explainSpans(spans);
    process.stdout.write(`\n${formatExplanation(explanation)}\n`);
    expect(explanation.stages.map((s) => s.stage)).toEqual(['ingest', 'enrich', 'state', 'writer']);
    expect(explanation.bottleneck).toBe('writer');
    expect(explanation.dominantWait).toBe('postgres');
    expect(explanation.sentence).toMatch(/^The bottleneck is writer: .* waiting on postgres/);
    // The command a user runs on the same file says the same.
    const cli = join(
      dirname(createRequire(import.meta.url).resolve('@throughline/cli/package.json')),
      'dist',
      'main.js',
    );
    const printed = execFileSync(process.execPath, [cli, 'explain', '--file', file], { encoding: 'utf8' });
    expect(printed).toMatch(/The bottleneck is writer: .* waiting on postgres/);

    // One event followed from its ledger row back to its request: every hop found, the writer the slowest,
    // waiting on postgres. Events from the middle and the end of the run (the very first ones may be slowest in
    // state: its first turn on a partition recovers the partition, which took ~0.5 s here).
    for (const event of [events[Math.floor(events.length / 2)]!, events.at(-1)!]) {
      const { rows } = await stack.pool.query<{ trace_id: string }>(
        `SELECT encode(trace_id, 'hex') AS trace_id FROM ledger WHERE event_id = $1`,
        [event.eventId],
      );
      expect(rows[0]!.trace_id).toMatch(/^[0-9a-f]{32}$/);
      const traced = JSON.parse(
        execFileSync(
          process.execPath,
          [cli, 'trace', event.eventId, '--file', file, '--database-url', stack.databaseUrl, '--json'],
          { encoding: 'utf8' },
        ),
      ) as {
        hops: {
          stage: string;
          span: { traceId: string; service?: string };
          requestSpan?: { name: string };
        }[];
        missing: unknown[];
        slowest: { stage: string; dominant: string };
        sentence: string;
      };
      process.stdout.write(`[e2e] trace ${event.eventId}: ${traced.sentence}\n`);
      expect(traced.missing).toEqual([]);
      expect(traced.hops.map((h) => [h.stage, h.span.service])).toEqual(
        ['ingest', 'enrich', 'state', 'writer'].map((stage) => [stage, `throughline-${stage}`]),
      );
      expect(traced.hops[0]!.requestSpan?.name).toMatch(/IngestService\/Publish(Batch|Stream)$/);
      expect(traced.hops[3]!.span.traceId).toBe(rows[0]!.trace_id);
      expect(traced.slowest).toMatchObject({ stage: 'writer', dominant: 'postgres' });
    }
    const table = execFileSync(
      process.execPath,
      [cli, 'trace', events[Math.floor((events.length * 3) / 4)]!.eventId, '--file', file, '--database-url', stack.databaseUrl],
      { encoding: 'utf8' },
    );
    process.stdout.write(`\n${table}\n`);
    expect(table).toMatch(/^writer\s+process tl\.applied\.\d+\s+.*postgres \d+/m);
    expect(table).toMatch(/The slowest hop is writer: .* mostly waiting on postgres/);
    // Library instrumentation: gRPC server spans on ingest, pg spans under the writer's waits, ioredis spans under
    // the state stage's.
    expect(
      spans.some(
        (s) =>
          s.service === 'throughline-ingest' && s.name.endsWith('throughline.v1.IngestService/PublishBatch'),
      ),
    ).toBe(true);
    expect(spans.some((s) => s.service === 'throughline-writer' && s.name.startsWith('pg.query'))).toBe(true);
    // ioredis spans under the state stage's waits (its reads and its fenced write script).
    expect(
      spans.some((s) => s.service === 'throughline-state' && ['mget', 'hmget', 'evalsha'].includes(s.name)),
    ).toBe(true);
  });
});
