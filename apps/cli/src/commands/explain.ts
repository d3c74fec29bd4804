/** `throughline explain`: where the time went, per stage, from spans in Jaeger or in a file of OTLP JSON. */
import { Command, Option } from 'commander';
import { explainSpans, formatExplanation, type SpanRecord } from '@throughline/telemetry';
import { ExitCode, usageError } from '../errors.js';
import { fileSpans, jaegerSpans, withSpanSourceOptions } from '../span-sources.js';
import { duration, positiveInt } from '../options.js';

interface ExplainFlags {
  file?: string;
  jaeger?: string;
  service: string[];
  since: number;
  until?: string;
  limit: number;
  json?: boolean;
}

const DEFAULT_SERVICES = [
  'throughline-ingest',
  'throughline-enrich',
  'throughline-state',
  'throughline-writer',
];

/** Spans of the given services from Jaeger's query API (`/api/traces`), each trace once. */
async function fromJaeger(
  base: string,
  services: string[],
  startMs: number,
  endMs: number,
  limit: number,
): Promise<SpanRecord[]> {
  const seen = new Set<string>();
  const spans: SpanRecord[] = [];
  for (const service of services) {
    const query = new URL('/api/traces', base);
    query.searchParams.set('service', service);
    query.searchParams.set('start', String(Math.floor(startMs * 1000)));
    query.searchParams.set('end', String(Math.floor(endMs * 1000)));
    query.searchParams.set('limit', String(limit));
    for (const s of await jaegerSpans(base, query)) {
      if (seen.has(s.spanId)) continue;
      seen.add(s.spanId);
      spans.push(s);
    }
  }
  return spans;
}

export function explainCommand(): Command {
  return withSpanSourceOptions(
    new Command('explain').description(
      'show where the time went per stage (queue wait, each dependency, compute) and name the bottleneck',
    ),
  )
    .addOption(
      new Option('--service <name...>', 'services to read from Jaeger').default(
        DEFAULT_SERVICES,
        DEFAULT_SERVICES.join(' '),
      ),
    )
    .addOption(
      new Option('--since <duration>', 'with --jaeger: how far back to look (30s, 15m, 1h)')
        .argParser(duration)
        .default(15 * 60_000, '15m'),
    )
    .addOption(new Option('--until <iso-time>', 'with --jaeger: end of the time range (default: now)'))
    .addOption(
      new Option('--limit <n>', 'with --jaeger: traces read per service')
        .argParser(positiveInt)
        .default(1000),
    )
    .option('--json', 'print the explanation as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  throughline explain --jaeger http://localhost:16686 --since 10m\n  throughline explain --file spans.jsonl\n',
    )
    .action(async (flags: ExplainFlags) => {
      if (flags.file === undefined && flags.jaeger === undefined)
        throw usageError('give --file <path> or --jaeger <url>');
      let spans: SpanRecord[];
      if (flags.file !== undefined) {
        spans = await fileSpans(flags.file);
      } else {
        const endMs = flags.until === undefined ? Date.now() : Date.parse(flags.until);
        if (!Number.isFinite(endMs))
          throw usageError(`--until: expected an ISO time such as 2026-11-23T10:00:00Z, got ${flags.until}`);
        spans = await fromJaeger(flags.jaeger!, flags.service, endMs - flags.since, endMs, flags.limit);
      }
      const explanation = explainSpans(spans);
      if (flags.json) process.stdout.write(`${JSON.stringify(explanation, null, 2)}\n`);
      else process.stdout.write(`${formatExplanation(explanation)}\n`);
      if (explanation.stages.length === 0) process.exitCode = ExitCode.failure;
    });
}
