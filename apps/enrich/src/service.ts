import { enrichProcessorFor, InFlightLimit, injectDelay, pipelineModeOf } from '@throughline/ablation';
import { ConfigServiceClient } from '@throughline/contracts';
import { ConfigCache, ConfigFeed, STAGES } from '@throughline/pipeline';
import { channelCredentialsOf, runStageService } from '@throughline/service';
import type { Telemetry } from '@throughline/telemetry-sdk';
import { loadSettings } from './config.js';
import { getTenantConfig } from './get-config.js';

/** Runs the enrich service until SIGTERM; telemetry was started by `main.ts` before anything else loaded. */
export async function run(telemetry: Telemetry, instanceId: string): Promise<void> {
  const settings = loadSettings();
  const cache = new ConfigCache();
  await runStageService({
    spec: STAGES.enrich,
    settings,
    telemetry,
    instanceId,
    async start({ bus, logger }) {
      const configClient = new ConfigServiceClient(
        settings.CONFIG_ADDRESS,
        channelCredentialsOf({
          caFile: settings.CONFIG_TLS_CA_FILE,
          certFile: settings.CONFIG_TLS_CERT_FILE,
          keyFile: settings.CONFIG_TLS_KEY_FILE,
          plaintext: settings.CONFIG_PLAINTEXT,
        }),
      );
      const feed = new ConfigFeed({ client: configClient, cache, logger });
      await feed.start();
      const mode = pipelineModeOf(settings);
      const limit = new InFlightLimit(mode.concurrency);
      const getConfig = async (tenantId: string) => {
        await injectDelay(settings.INJECT_LATENCY, 'config');
        return getTenantConfig(configClient, tenantId);
      };
      const options = {
        bus,
        partitionCount: settings.PARTITION_COUNT,
        snapshot: () => cache.current,
        maxOutputEvents: settings.ENRICH_MAX_OUTPUT_EVENTS,
        mode,
        limit,
        getConfig,
      };
      return {
        maxTurnMessages: settings.ENRICH_MAX_TURN_MESSAGES,
        processorFor: (lease) => enrichProcessorFor(options, lease),
        report: () => ({ configVersion: String(cache.current.version) }),
        async close() {
          await feed.stop();
          configClient.close();
        },
      };
    },
    readyFields: () => ({
      configVersion: String(cache.current.version),
      features: [...pipelineModeOf(settings).features].join(','),
    }),
  });
}
