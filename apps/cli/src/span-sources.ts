/** Where `explain` and `trace` read spans: a file of OTLP JSON, or Jaeger's query API (the UI's port, 16686). */
import { readFile } from 'node:fs/promises';
import { parseOtlpJsonFile, spansFromJaeger, type SpanRecord } from '@throughline/telemetry';
import { Option, type Command } from 'commander';
import { CliError } from './errors.js';
import { url } from './options.js';

interface JaegerResponse {
  data?: unknown[] | null;
  errors?: { msg?: string }[] | null;
}

/** GETs `url` from Jaeger's query API and reads its traces' spans; a 404 (no such trace) is no spans. */
export async function jaegerSpans(base: string, url: URL): Promise<SpanRecord[]> {
  let body: JaegerResponse;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    if (res.status === 404) return [];
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    body = (await res.json()) as JaegerResponse;
  } catch (err) {
    throw new CliError(
      `cannot read traces from Jaeger at ${base} (${err instanceof Error ? err.message : String(err)}): check --jaeger points at its query API (UI port, 16686)`,
      { cause: err },
    );
  }
  return spansFromJaeger(body.data ?? []);
}

/** The spans of a file of OTLP JSON (one export request, an array of them, or one per line). */
export async function fileSpans(path: string): Promise<SpanRecord[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      cause: err,
    });
  }
  try {
    return parseOtlpJsonFile(text);
  } catch (err) {
    throw new CliError(`${path} is not OTLP JSON (${err instanceof Error ? err.message : String(err)})`, {
      cause: err,
    });
  }
}

/** Adds `--file <path>` and `--jaeger <url>` (one or the other) to a command that reads spans. */
export function withSpanSourceOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--file <path>',
        'a file of OTLP JSON spans (one export request, an array, or one per line)',
      ).conflicts('jaeger'),
    )
    .addOption(
      new Option('--jaeger <url>', "Jaeger's query API, e.g. http://localhost:16686").argParser(
        url('http', 'https'),
      ),
    );
}
