/**
 * `throughline topology`: creates the streams and buckets the services use (or brings them to the given settings),
 * and shows them. With least-privilege NATS permissions (deploy/nats/permissions.conf) the services may only check
 * them: an operator's user runs this before they start, and again after NATS lost its JetStream store.
 */
import { Command, Option } from 'commander';
import { BusErrorCode, CLIENT_BUCKET, isBusError, LEASE_BUCKET } from '@throughline/bus';
import { subjects, TOPICS } from '@throughline/contracts';
import { CliError } from '../errors.js';
import { connectNats } from '../nats.js';
import { natsUrlOption, positiveInt } from '../options.js';

interface TopologyFlags {
  natsUrl: string;
  duplicateWindowMs: number;
  leaseTtlMs: number;
  streamReplicas: number;
  acceptNats29Replicas?: boolean;
}

export function topologyCommand(): Command {
  return new Command('topology')
    .description(
      "create the streams and buckets the services use, with the services' settings (an operator's NATS user, before they start)",
    )
    .addOption(natsUrlOption())
    .addOption(
      new Option('--duplicate-window-ms <ms>', "the streams' de-duplication window, as the services' setting")
        .argParser(positiveInt)
        .env('BUS_DUPLICATE_WINDOW_MS')
        .default(120_000),
    )
    .addOption(
      new Option('--lease-ttl-ms <ms>', "how long a lease lives unrenewed, as the services' setting")
        .argParser(positiveInt)
        .env('LEASE_TTL_MS')
        .default(5_000),
    )
    .addOption(
      new Option(
        '--stream-replicas <n>',
        "copies JetStream keeps of each stream and bucket (3 on a clustered NATS), as the services' setting",
      )
        .argParser(positiveInt)
        .env('BUS_STREAM_REPLICAS')
        .default(1),
    )
    .addOption(
      new Option(
        '--accept-nats-2-9-replicas',
        'keep more than one copy on nats-server 2.9 anyway (refused otherwise: a node restart can lose acknowledged events there); also BUS_ACCEPT_NATS_2_9_REPLICAS=true',
      ),
    )
    .action(async (flags: TopologyFlags) => {
      const bus = await connectNats(flags.natsUrl, 'topology', {
        duplicateWindowMs: flags.duplicateWindowMs,
        leaseTtlMs: flags.leaseTtlMs,
        streamReplicas: flags.streamReplicas,
        acceptNats29Replicas: flags.acceptNats29Replicas === true || acceptedFromEnvironment(),
      });
      try {
        await bus.ensureTopology().catch((err: unknown) => {
          throw new CliError(
            isBusError(err, BusErrorCode.unsupportedServer)
              ? `could not create the streams: ${(err as Error).message}`
              : `could not create the streams: ${(err as Error).message} (does this NATS user hold TL_ADMIN of deploy/nats/permissions.conf?)`,
            { cause: err },
          );
        });
        const names = [
          ...TOPICS.map((t) => subjects.stream(t)),
          subjects.deadLetterStream,
          `KV_${LEASE_BUCKET}`,
          `KV_${CLIENT_BUCKET}`,
        ];
        process.stdout.write(`streams and buckets in place: ${names.join(', ')}\n`);
      } finally {
        await bus.close();
      }
    });
}

/**
 * `BUS_ACCEPT_NATS_2_9_REPLICAS` read as the services read it: `true`/`1`, or `false`/`0`/empty; anything else is
 * refused (commander would take any value of an environment variable for true).
 */
function acceptedFromEnvironment(): boolean {
  const value = process.env.BUS_ACCEPT_NATS_2_9_REPLICAS ?? '';
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0' || value === '') return false;
  throw new CliError(`BUS_ACCEPT_NATS_2_9_REPLICAS must be true, 1, false or 0, got '${value}'`);
}
