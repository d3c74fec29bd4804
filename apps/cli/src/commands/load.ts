/** `throughline load`: a deterministic load generator against a running IngestService. */
import { addTlsOptions, credentialsOf, type TlsFlags } from '../tls-options.js';
import { Command, Option } from 'commander';
import pc from 'picocolors';
import { IngestServiceClient } from '@throughline/contracts';
import { ExitCode, usageError } from '../errors.js';
import { count, millis, seconds } from '../format.js';
import { ensureReachable, toJson } from '../grpc.js';
import { runLoad, type LoadReport } from '../load/load-runner.js';
import { duration, hostPort, nonNegativeNumber, positiveInt, rate, share } from '../options.js';
import { interruptSignal } from '../signals.js';
import { readTokenFile, warnTokenWithoutTls } from '../token-file.js';

interface LoadFlags extends TlsFlags {
  rate: number | 'max';
  events?: number;
  duration?: number;
  accounts: number;
  tenants: number;
  skew: number;
  duplicates: number;
  invalid: number;
  seed: number;
  target: string;
  batchSize: number;
  concurrency: number;
  tokenFile?: string;
  json?: boolean;
}

function render(r: LoadReport, target: string, rateFlag: number | 'max'): string {
  const unexpected = Object.entries(r.errors);
  const lines = [
    `${pc.bold(`${count(r.acceptedEvents)} events accepted`)} by ${target} in ${seconds(r.elapsedMs)}: ` +
      `${pc.bold(pc.green(`${count(r.acceptedPerSecond)} events/s`))} (target: ${rateFlag === 'max' ? 'max' : `${count(rateFlag)}/s`})`,
    `  requests ${count(r.requests)}, latency p50 ${millis(r.latencyMs.p50)}, p90 ${millis(r.latencyMs.p90)}, p99 ${millis(r.latencyMs.p99)}, max ${millis(r.latencyMs.max)}`,
    `  of the accepted events ${count(r.resentEvents)} were resent duplicates (applied once by the pipeline)`,
    `  malformed events sent ${count(r.malformedSent)}, refused with INVALID_ARGUMENT ${count(r.malformedRefused)}` +
      (r.retries > 0 ? `; ${count(r.retries)} attempts retried after RESOURCE_EXHAUSTED/UNAVAILABLE` : ''),
    unexpected.length === 0
      ? `  errors: ${pc.green('none')}`
      : `  errors by kind: ${pc.red(unexpected.map(([k, n]) => `${k} ${count(n)}`).join(', '))}`,
    ...(r.errors.UNAUTHENTICATED !== undefined || r.errors.PERMISSION_DENIED !== undefined
      ? [
          '  ingest wants a client credential allowed for these tenants: give --token-file (`throughline clients create <name> --tenants …` makes one)',
        ]
      : []),
  ];
  return lines.join('\n');
}

export function loadCommand(): Command {
  return addTlsOptions(new Command('load'))
    .description(
      'send ledger events to a running IngestService (deterministic for a seed) and report rate, latency and errors',
    )
    .addOption(new Option('--rate <n|max>', 'events per second, or max').argParser(rate).default('max'))
    .addOption(
      new Option('--events <n>', 'events to send (default 100000 unless --duration is given)')
        .argParser(positiveInt)
        .conflicts('duration'),
    )
    .addOption(new Option('--duration <d>', 'send for this long, e.g. 30s or 2m').argParser(duration))
    .addOption(new Option('--accounts <n>', 'distinct accounts').argParser(positiveInt).default(100_000))
    .addOption(
      new Option('--tenants <n>', 'tenants (tenant-1..tenant-N; `up` configures the first five)')
        .argParser(positiveInt)
        .default(5),
    )
    .addOption(
      new Option('--skew <s>', 'zipf exponent of the account distribution (0 = uniform)')
        .argParser(nonNegativeNumber)
        .default(0.8),
    )
    .addOption(
      new Option('--duplicates <share>', 'share of events sent again, e.g. 0.01 or 1%')
        .argParser(share)
        .default(0),
    )
    .addOption(
      new Option('--invalid <share>', 'share of malformed events (each sent alone; expected to be refused)')
        .argParser(share)
        .default(0),
    )
    .addOption(
      new Option('--seed <n>', 'workload seed: the same seed sends the same events')
        .argParser(positiveInt)
        .default(1),
    )
    .addOption(
      new Option('--target <host:port>', 'the IngestService')
        .argParser(hostPort)
        .env('INGEST_ADDRESS')
        .default('127.0.0.1:50051'),
    )
    .addOption(
      new Option('--batch-size <n>', 'events per request (ingest takes up to 10000)')
        .argParser(positiveInt)
        .default(1000),
    )
    .addOption(new Option('--concurrency <n>', 'requests in flight').argParser(positiveInt).default(8))
    .addOption(
      new Option(
        '--token-file <path>',
        'a file holding the client token to publish with (`throughline clients create`; not needed by `throughline up`)',
      ).env('THROUGHLINE_TOKEN_FILE'),
    )
    .option('--json', 'print the report as JSON')
    .action(async (flags: LoadFlags) => {
      if (flags.batchSize > 100_000)
        throw usageError('--batch-size above 100000 exceeds what ingest accepts');
      if (flags.duplicates + flags.invalid > 1)
        throw usageError('--duplicates and --invalid add up to more than 1');
      // Read before connecting: a missing token file is the user's to fix, whatever the service says.
      const token =
        flags.tokenFile === undefined
          ? undefined
          : readTokenFile(flags.tokenFile, 'the client token file', 'throughline clients create');
      if (token !== undefined) warnTokenWithoutTls(flags, 'client token');
      const client = new IngestServiceClient(flags.target, credentialsOf(flags), {
        'grpc.max_send_message_length': 64 * 1024 * 1024,
      });
      const interrupt = interruptSignal();
      try {
        await ensureReachable(client, 'IngestService', flags.target);
        const report = await runLoad(client, {
          rate: flags.rate,
          ...(flags.duration !== undefined
            ? { durationMs: flags.duration }
            : { events: flags.events ?? 100_000 }),
          accounts: flags.accounts,
          tenants: flags.tenants,
          skew: flags.skew,
          duplicates: flags.duplicates,
          invalid: flags.invalid,
          seed: flags.seed,
          batchSize: flags.batchSize,
          concurrency: flags.concurrency,
          ...(token === undefined ? {} : { token }),
          signal: interrupt.signal,
          ...(process.stderr.isTTY && !flags.json
            ? {
                onProgress: (r: LoadReport) =>
                  process.stderr.write(
                    `  … ${count(r.acceptedEvents)} accepted, ${count(r.acceptedPerSecond)} events/s\n`,
                  ),
              }
            : {}),
        });
        process.stdout.write(`${flags.json ? toJson(report) : render(report, flags.target, flags.rate)}\n`);
        if (Object.keys(report.errors).length > 0) process.exitCode = ExitCode.failure;
        if (interrupt.signal.aborted) process.exitCode = ExitCode.interrupted;
      } finally {
        interrupt.dispose();
        client.close();
      }
    });
}
