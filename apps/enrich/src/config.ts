import { z } from 'zod';
import { injectLatencySetting, pipelineModeSettings } from '@throughline/ablation';
import { commonSettings, parseSettings } from '@throughline/service';

const schema = commonSettings.extend({
  ...pipelineModeSettings,
  /** Modelled latency per dependency round trip, e.g. `config=2ms` (off by default; naive mode only calls config per event). */
  INJECT_LATENCY: injectLatencySetting,
  /** Address of the config service's gRPC server. */
  CONFIG_ADDRESS: z.string().default('127.0.0.1:50052'),
  /** CA (PEM) that signed the config service's certificate. Unset: the system's CAs. */
  CONFIG_TLS_CA_FILE: z.string().optional(),
  /** This client's certificate and key (PEM), when the config service requires mutual TLS. */
  CONFIG_TLS_CERT_FILE: z.string().optional(),
  CONFIG_TLS_KEY_FILE: z.string().optional(),
  /** Reach the config service without TLS (it serves with GRPC_PLAINTEXT=true). Default: TLS. */
  CONFIG_PLAINTEXT: z
    .enum(['true', 'false', '1', '0', ''])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  /** Largest number of bus messages one turn takes. */
  ENRICH_MAX_TURN_MESSAGES: z.coerce.number().int().min(1).max(1000).default(32),
  /** Events per published message. */
  ENRICH_MAX_OUTPUT_EVENTS: z.coerce.number().int().min(1).max(65_535).default(2000),
});
export type EnrichSettings = z.infer<typeof schema>;

export function loadSettings(env: NodeJS.ProcessEnv = process.env): EnrichSettings {
  return parseSettings(schema, env, 'enrich');
}
