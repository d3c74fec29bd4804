/** The CLI's connection to the deployment's NATS (status, dlq, clients): reachable first, or one clear line. */
import { connectJetStreamBus, type Bus, type BusSettings } from '@throughline/bus';
import { natsAuthFromEnv } from './options.js';
import { checkReachable } from './up/preflight.js';

/** Connects to NATS at `natsUrl` as `throughline-<command>`, with the NATS_* credentials of the environment. */
export async function connectNats(natsUrl: string, command: string, settings?: BusSettings): Promise<Bus> {
  await checkReachable([
    {
      name: 'NATS',
      url: natsUrl,
      defaultPort: 4222,
      setting: '--nats-url or NATS_URL',
      hint: 'is the pipeline running?',
    },
  ]);
  return connectJetStreamBus({
    servers: natsUrl,
    name: `throughline-${command}`,
    auth: natsAuthFromEnv(),
    ...(settings === undefined ? {} : { settings }),
  });
}
