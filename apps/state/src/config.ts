import { z } from 'zod';
import { injectLatencySetting, pipelineModeSettings } from '@throughline/ablation';
import {
  commonSettings,
  parseSettings,
  postgresSettings,
  redisSettings,
  redisSettingsProblem,
} from '@throughline/service';

const schema = commonSettings
  .extend({
    ...pipelineModeSettings,
    /** Modelled latency per dependency round trip, e.g. `postgres=2ms~0.5ms` (off by default). */
    INJECT_LATENCY: injectLatencySetting,
    /** REDIS_URL, REDIS_USERNAME, REDIS_PASSWORD_FILE, REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE. */
    ...redisSettings.shape,
    /** PostgreSQL, read only to rebuild state the Redis store lost. */
    ...postgresSettings.shape,
    /** Accounts kept in memory per partition. */
    STATE_MAX_CACHED_ACCOUNTS: z.coerce.number().int().min(1).default(50_000),
    /** How long an event id's claim is remembered to recognise another occurrence, ms (a day by default). */
    DEDUP_HORIZON_MS: z.coerce.number().int().min(1000).default(86_400_000),
    /**
     * How long an account's state stays in Redis after its last write, ms (seven days by default; at least an
     * hour, far above the writer's lag): cold accounts expire and are rebuilt from PostgreSQL on their next event.
     */
    STATE_ACCOUNT_TTL_MS: z.coerce.number().int().min(3_600_000).default(604_800_000),
    STATE_MAX_TURN_MESSAGES: z.coerce.number().int().min(1).max(1000).default(32),
    STATE_MAX_OUTPUT_EVENTS: z.coerce.number().int().min(1).max(65_535).default(2000),
    PG_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(2),
  })
  .superRefine((s, ctx) => {
    const problem = redisSettingsProblem(s);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, path: ['REDIS_URL'] });
  });
export type StateSettings = z.infer<typeof schema>;

export function loadSettings(env: NodeJS.ProcessEnv = process.env): StateSettings {
  return parseSettings(schema, env, 'state');
}
