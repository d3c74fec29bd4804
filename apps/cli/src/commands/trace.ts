/** `throughline trace <event_id>`: one event's timeline, hop by hop, from its ledger row back to its request. */
import { Command, Option } from 'commander';
import {
  formatEventPath,
  slowestSentence,
  traceEventPath,
  type EventPath,
  type LedgerRowRef,
  type SpanRecord,
  type SpanSource,
} from '@throughline/telemetry';
import { databaseError, openDatabase, withDatabaseOptions, type DatabaseFlags } from '../database.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import { fileSpans, jaegerSpans, withSpanSourceOptions } from '../span-sources.js';
import { url } from '../options.js';

interface TraceFlags extends DatabaseFlags {
  file?: string;
  jaeger?: string;
  jaegerUi?: string;
  json?: boolean;
}

const JAEGER_READS_AT_ONCE = 8;

interface LedgerRow {
  event_id: string;
  partition: number;
  position: string;
  trace_id: string | null;
}

/** The event's ledger row; a clear error when there is none, or when its commit was not traced. */
async function ledgerRow(flags: DatabaseFlags, eventId: string): Promise<LedgerRowRef> {
  const target = await openDatabase(flags);
  let row: LedgerRow | undefined;
  try {
    const res = await target.pool
      .query<LedgerRow>(
        `SELECT event_id, partition, position::text AS position, encode(trace_id, 'hex') AS trace_id
         FROM ledger WHERE event_id = $1`,
        [eventId],
      )
      .catch((err: unknown) => {
        if (/column "trace_id" does not exist/.test(String(err)))
          throw new CliError(
            `${target.description} has no ledger.trace_id yet: start this version's services once (they migrate the schema)`,
          );
        throw databaseError(err, target);
      });
    row = res.rows[0];
  } finally {
    await target.close();
  }
  if (row === undefined)
    throw new CliError(
      `no ledger row for event ${JSON.stringify(eventId)} in ${target.description}: it is not committed (yet), or it was sent to another deployment`,
    );
  if (row.trace_id === null)
    throw new CliError(
      `the ledger row of ${eventId} has no trace id: its commit was not traced (tracing off, sampled out by ` +
        `OTEL_TRACES_SAMPLER, the embedded mode, or committed before this version)`,
    );
  return {
    eventId: row.event_id,
    partition: row.partition,
    position: BigInt(row.position),
    traceId: row.trace_id,
  };
}

/** Spans by trace, from a file read once or from Jaeger one trace at a time. */
async function spanSource(flags: TraceFlags): Promise<SpanSource> {
  if (flags.file !== undefined) {
    const byTrace = new Map<string, SpanRecord[]>();
    for (const span of await fileSpans(flags.file)) {
      const list = byTrace.get(span.traceId) ?? [];
      list.push(span);
      byTrace.set(span.traceId, list);
    }
    return { trace: (traceId) => Promise.resolve(byTrace.get(traceId) ?? []) };
  }
  const base = flags.jaeger!;
  // A hop links to many traces (one per message of the turn): read them a few at a time, not all at once.
  let running = 0;
  const waiting: (() => void)[] = [];
  return {
    async trace(traceId) {
      if (running >= JAEGER_READS_AT_ONCE) await new Promise<void>((resolve) => waiting.push(resolve));
      running++;
      try {
        return await jaegerSpans(base, new URL(`/api/traces/${traceId}`, base));
      } finally {
        running--;
        waiting.shift()?.();
      }
    },
  };
}

function asJson(path: EventPath): unknown {
  return {
    ...path,
    row: { ...path.row, position: path.row.position.toString() },
    sentence: slowestSentence(path),
  };
}

export function traceCommand(): Command {
  return withSpanSourceOptions(
    withDatabaseOptions(
      new Command('trace')
        .description(
          "follow one event from its ledger row back to the client's request and show where it waited, hop by hop",
        )
        .argument('<event_id>', 'the event to follow (its ledger row must exist)'),
      'read the ledger row from',
    ),
  )
    .addOption(
      new Option(
        '--jaeger-ui <url>',
        'print a link into this Jaeger UI for each trace (default: --jaeger)',
      ).argParser(url('http', 'https')),
    )
    .option('--json', 'print the path as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  throughline trace pay-000123 --jaeger http://localhost:16686\n  throughline trace pay-000123 --file spans.jsonl --database-url postgres://…\n',
    )
    .action(async (eventId: string, flags: TraceFlags) => {
      if (flags.file === undefined && flags.jaeger === undefined)
        throw usageError('give --file <path> or --jaeger <url>');
      if (eventId === '') throw usageError('<event_id> is empty');
      const row = await ledgerRow(flags, eventId);
      const path = await traceEventPath(row, await spanSource(flags));
      const jaegerUi = flags.jaegerUi ?? flags.jaeger;
      if (flags.json) process.stdout.write(`${JSON.stringify(asJson(path), null, 2)}\n`);
      else process.stdout.write(`${formatEventPath(path, jaegerUi ? { jaegerUi } : {})}\n`);
      if (path.hops.length === 0) process.exitCode = ExitCode.failure;
    });
}
