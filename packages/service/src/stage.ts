import { checkNatsAuth, connectJetStreamBus, type Bus } from '@throughline/bus';
import { ownedPartitions, type Logger } from '@throughline/runtime';
import { busSettingsOf, checkOwnership, natsAuthOf, type CommonSettings } from './settings.js';

/**
 * The partitions a statically assigned instance asks leases for (`p % INSTANCE_COUNT == INSTANCE_INDEX`), or
 * undefined with `balanced` assignment. When the settings contradict each other the process logs one line and
 * exits with code 2, as for any invalid setting.
 */
export function staticPartitionsOrExit(settings: CommonSettings, logger: Logger): number[] | undefined {
  const error = checkOwnership(settings);
  if (error) {
    logger.error(error);
    process.exit(2);
  }
  if (settings.PARTITION_ASSIGNMENT !== 'static') return undefined;
  return ownedPartitions(settings.PARTITION_COUNT, settings.INSTANCE_INDEX, settings.INSTANCE_COUNT);
}

/** Connects a service to JetStream with the common bus settings and makes sure every stream exists. */
export async function connectServiceBus(
  name: string,
  settings: CommonSettings,
  logger: Logger,
): Promise<Bus> {
  const auth = natsAuthOf(settings);
  const problem = checkNatsAuth(auth);
  if (problem !== undefined) {
    logger.error(`invalid NATS settings: ${problem}`);
    process.exit(2);
  }
  const bus = await connectJetStreamBus({
    auth,
    servers: settings.NATS_URL,
    name,
    settings: busSettingsOf(settings),
    logger,
  });
  await bus.ensureTopology();
  return bus;
}
