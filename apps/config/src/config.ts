import { z } from 'zod';
import { grpcServerSettings, parseSettings, postgresSettings } from '@throughline/service';

const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

const schema = grpcServerSettings.extend({
  ...postgresSettings.shape,
  /** Address of the operational HTTP server: /healthz, /readyz, /metrics. */
  HTTP_ADDRESS: z.string().default('0.0.0.0:9464'),
  /** Address of the gRPC server. */
  GRPC_ADDRESS: z.string().default('0.0.0.0:50052'),
  /** Adds the demo tenants (tenant-1..tenant-5) at start when they do not exist. */
  SEED_DEMO_TENANTS: booleanFlag,
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  PG_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(4),
});
export type ConfigServiceSettings = z.infer<typeof schema>;

export function loadSettings(env: NodeJS.ProcessEnv = process.env): ConfigServiceSettings {
  return parseSettings(schema, env, 'config');
}
