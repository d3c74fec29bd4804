import { connectJetStreamBus, type Bus } from '@throughline/bus';
import { ownedPartitions, type Logger } from '@throughline/runtime';
import { busSettingsOf, checkOwnership, type CommonSettings } from './settings.js';

/**
 * The partitions this instance owns (`p % INSTANCE_COUNT == INSTANCE_INDEX`); when the ownership settings
 * contradict each other the process logs one line and exits with code 2, as for any invalid setting.
 */
export function ownedPartitionsOrExit(settings: CommonSettings, logger: Logger): number[] {
  const error = checkOwnership(settings);
  if (error) {
    logger.error(error);
    process.exit(2);
  }
  return ownedPartitions(settings.PARTITION_COUNT, settings.INSTANCE_INDEX, settings.INSTANCE_COUNT);
}

/** Connects a service to JetStream with the common bus settings and makes sure every stream exists. */
export async function connectServiceBus(
  service: string,
  settings: CommonSettings,
  logger: Logger,
): Promise<Bus> {
  const bus = await connectJetStreamBus({
    servers: settings.NATS_URL,
    name: `${service}-${settings.INSTANCE_INDEX}`,
    settings: busSettingsOf(settings),
    logger,
  });
  await bus.ensureTopology();
  return bus;
}
