import { z } from 'zod';
import { ROLE_PREFIX_PATTERN } from '@throughline/stores';
import { injectLatencySetting, pipelineModeSettings } from '@throughline/ablation';
import { commonSettings, parseSettings, postgresSettings } from '@throughline/service';

const schema = commonSettings
  .extend({
    ...pipelineModeSettings,
    /** Modelled latency per dependency round trip, e.g. `postgres=2ms~0.5ms` (off by default). */
    INJECT_LATENCY: injectLatencySetting,
    ...postgresSettings.shape,
    /** Connections to PostgreSQL; each partition commits one transaction at a time. */
    PG_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(4),
    /** Run the schema migrations and exit (for a migration Job). */
    MIGRATE_ONLY: z
      .enum(['true', 'false', '1', '0', ''])
      .default('false')
      .transform((v) => v === 'true' || v === '1'),
    /**
     * With MIGRATE_ONLY: after migrating, create the services' least-privilege roles `<prefix>_writer`, `_state`,
     * `_config` and `_reader` that do not exist and grant each exactly its privileges (`grantServiceRoles`).
     */
    DATABASE_ROLES_PREFIX: z
      .string()
      .regex(
        ROLE_PREFIX_PATTERN,
        'lower-case letters, digits and _ (at most 41), starting with a letter or _',
      )
      .optional(),
    /** A directory of files named writer, state, config, reader (a mounted Secret): the roles' passwords. */
    DATABASE_ROLE_PASSWORDS_DIR: z.string().min(1).optional(),
    /** Largest number of bus messages one partition's turn takes. */
    WRITER_MAX_TURN_MESSAGES: z.coerce.number().int().min(1).max(1000).default(16),
    /**
     * Commit statements in flight at once; the partitions' turns that queue meanwhile share the next statement
     * (group commit). At most PG_POOL_SIZE.
     */
    WRITER_COMMITS_IN_FLIGHT: z.coerce.number().int().min(1).max(100).default(2),
  })
  .refine((s) => s.WRITER_COMMITS_IN_FLIGHT <= s.PG_POOL_SIZE, {
    message: 'WRITER_COMMITS_IN_FLIGHT must not exceed PG_POOL_SIZE',
    path: ['WRITER_COMMITS_IN_FLIGHT'],
  });
export type WriterSettings = z.infer<typeof schema>;

export function loadSettings(env: NodeJS.ProcessEnv = process.env): WriterSettings {
  return parseSettings(schema, env, 'writer');
}
