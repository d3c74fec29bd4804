/** `throughline up`: the five services as local processes over NATS, Redis and PostgreSQL. */
import { Command, Option } from 'commander';
import type { StackSettings } from '@throughline/stack';
import { runStack } from '../up/stack.js';
import { checkReachable } from '../up/preflight.js';
import { duration, listenHostPort, nonNegativeInt, positiveInt, url, natsUrlOption } from '../options.js';
import { usageError } from '../errors.js';

/** The stack's settings as flags (instances one flag per stage), and how `up` itself runs. */
interface UpFlags extends Omit<StackSettings, 'instances' | 'env' | 'appEnv'> {
  enrichInstances: number;
  stateInstances: number;
  writerInstances: number;
  readyTimeout: number;
  stopTimeout: number;
  raw?: boolean;
}

export function upCommand(): Command {
  return new Command('up')
    .description(
      'start the distributed stack locally: config, ingest, enrich, state and writer as separate processes',
    )
    .addOption(natsUrlOption())
    .addOption(
      new Option('--redis-url <url>', 'Redis for per-key state')
        .argParser(url('redis', 'rediss'))
        .env('REDIS_URL')
        .default('redis://127.0.0.1:6379'),
    )
    .addOption(
      new Option('--database-url <url>', 'PostgreSQL for results and configuration')
        .argParser(url('postgres', 'postgresql'))
        .env('DATABASE_URL')
        .default('postgres://postgres@127.0.0.1:5432/postgres'),
    )
    .addOption(
      new Option('--partitions <n>', 'partitions (the same in every service)')
        .argParser(positiveInt)
        .default(16),
    )
    .addOption(new Option('--enrich-instances <n>', 'enrich processes').argParser(positiveInt).default(1))
    .addOption(new Option('--state-instances <n>', 'state processes').argParser(positiveInt).default(1))
    .addOption(new Option('--writer-instances <n>', 'writer processes').argParser(positiveInt).default(1))
    .addOption(
      new Option('--ingest-address <host:port>', 'IngestService gRPC address; port 0 for any free port')
        .argParser(listenHostPort)
        .default('127.0.0.1:50051'),
    )
    .addOption(
      new Option('--config-address <host:port>', 'ConfigService gRPC address; port 0 for any free port')
        .argParser(listenHostPort)
        .default('127.0.0.1:50052'),
    )
    .addOption(
      new Option(
        '--http-port-base <port>',
        "first port of the services' /healthz, /readyz and /metrics (one port each, in order); 0 for any free port",
      )
        .argParser(nonNegativeInt)
        .default(9464),
    )
    .addOption(
      new Option('--log-level <level>', "services' log level")
        .choices(['debug', 'info', 'warn', 'error'])
        .default('info'),
    )
    .addOption(
      new Option('--ready-timeout <duration>', 'how long each service may take to become ready')
        .argParser(duration)
        .default(60_000, '60s'),
    )
    .addOption(
      new Option('--stop-timeout <duration>', 'how long each service may drain on Ctrl-C before it is killed')
        .argParser(duration)
        .default(30_000, '30s'),
    )
    .option('--raw', "print the services' JSON log lines as they are")
    .action(async (flags: UpFlags) => {
      for (const [name, n] of [
        ['--enrich-instances', flags.enrichInstances],
        ['--state-instances', flags.stateInstances],
        ['--writer-instances', flags.writerInstances],
      ] as const) {
        if (n > flags.partitions)
          throw usageError(
            `${name} (${n}) exceeds --partitions (${flags.partitions}): an instance would own no partition`,
          );
      }
      if (flags.httpPortBase > 65_535 - 16) throw usageError('--http-port-base is too high');
      await checkReachable([
        {
          name: 'NATS',
          url: flags.natsUrl,
          defaultPort: 4222,
          setting: '--nats-url or NATS_URL',
          hint: 'start nats-server with JetStream (nats-server -js)',
        },
        {
          name: 'Redis',
          url: flags.redisUrl,
          defaultPort: 6379,
          setting: '--redis-url or REDIS_URL',
          hint: 'start redis-server',
        },
        {
          name: 'PostgreSQL',
          url: flags.databaseUrl,
          defaultPort: 5432,
          setting: '--database-url or DATABASE_URL',
          hint: 'start PostgreSQL',
        },
      ]);
      const {
        readyTimeout,
        stopTimeout,
        raw,
        enrichInstances,
        stateInstances,
        writerInstances,
        ...settings
      } = flags;
      process.exitCode = await runStack({
        settings: {
          ...settings,
          instances: { enrich: enrichInstances, state: stateInstances, writer: writerInstances },
        },
        readyTimeoutMs: readyTimeout,
        stopTimeoutMs: stopTimeout,
        pretty: !raw,
        out: process.stdout,
        control: process.stdin,
      });
    });
}
