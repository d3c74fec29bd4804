import { z } from 'zod';
import { booleanFlag, grpcServerSettings, parseSettings, postgresSettings } from '@throughline/service';
import { adminAuthProblem } from './admin-auth.js';

const schema = grpcServerSettings
  .extend({
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
    /** `<name> <sha256 of the token>` per line: the bearer tokens that may Put (see admin-auth.ts). */
    CONFIG_ADMIN_TOKENS_FILE: z.string().min(1).optional(),
    /** Comma-separated subject common names of client certificates that may Put (mutual TLS). */
    CONFIG_ADMIN_CLIENTS: z.string().optional(),
    /** Any client may Put: for a local stack on loopback only. Default false. */
    CONFIG_PUT_OPEN: booleanFlag,
  })
  .superRefine((s, ctx) => {
    const problem = adminAuthProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: ['CONFIG_PUT_OPEN'] });
  });
export type ConfigServiceSettings = z.infer<typeof schema>;

export function loadSettings(env: NodeJS.ProcessEnv = process.env): ConfigServiceSettings {
  return parseSettings(schema, env, 'config');
}
