import pg from 'pg';
import { parseIntoClientConfig } from 'pg-connection-string';
import { z } from 'zod';
import { readSecretFile } from '@throughline/bus';
import type { Logger } from '@throughline/runtime';

/** How a service reaches PostgreSQL (config, state and writer read the same settings). */
export const postgresSettings = z.object({
  /** postgres://user@host:port/database; TLS by its query (`sslmode=verify-full&sslrootcert=/path/ca.crt`). */
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/postgres'),
  /**
   * A file holding the password (a mounted Secret). Read for every new connection, so a rotated password is used
   * without a restart once the file changes; it takes the place of a password in DATABASE_URL.
   */
  DATABASE_PASSWORD_FILE: z.string().min(1).optional(),
  /**
   * The role to log in as, in place of DATABASE_URL's user: with least-privilege roles every service shares the
   * URL of the database and logs in as its own role (`throughline db roles`).
   */
  DATABASE_USER: z.string().min(1).optional(),
  /**
   * What to do at start when the schema is older than this build: `auto` migrates it (one process at a time);
   * `off` refuses to start and says to run the migrations, for a role that may not change the schema (the chart
   * sets it when the services use least-privilege roles; its migration Job migrates).
   */
  DATABASE_MIGRATE: z.enum(['auto', 'off']).default('auto'),
  /**
   * TLS from files (mounted Secrets), instead of DATABASE_URL's query: the CA that signed the server's certificate
   * (the server is then verified, its name included, as `sslmode=verify-full`), and a client certificate and key
   * for a server that authenticates clients by certificate.
   */
  DATABASE_TLS_CA_FILE: z.string().min(1).optional(),
  DATABASE_TLS_CERT_FILE: z.string().min(1).optional(),
  DATABASE_TLS_KEY_FILE: z.string().min(1).optional(),
});
export type PostgresSettings = z.infer<typeof postgresSettings>;

/**
 * A pool on `settings`. Idle connections that fail (a restart, a terminated backend) are logged and replaced on
 * next use; a connection refused (authentication, a server starting) fails the query, which the stage retries.
 */
export function createPostgresPool(
  settings: PostgresSettings,
  opts: { max: number; logger: Logger },
): pg.Pool {
  const file = settings.DATABASE_PASSWORD_FILE;
  const ssl = tlsOf(settings);
  const pool = new pg.Pool({
    // Parsed here rather than passed as connectionString: pg lets a connection string's (absent) password
    // override a password function.
    ...parseIntoClientConfig(settings.DATABASE_URL),
    ...(settings.DATABASE_USER === undefined ? {} : { user: settings.DATABASE_USER }),
    max: opts.max,
    ...(file === undefined ? {} : { password: () => readPasswordFile(file) }),
    ...(ssl === undefined ? {} : { ssl }),
  });
  pool.on('error', (err) => opts.logger.warn('idle PostgreSQL connection failed', { error: err.message }));
  return pool;
}

/** The TLS options of the DATABASE_TLS_* files, or undefined (TLS then as DATABASE_URL says). */
function tlsOf(
  s: PostgresSettings,
): { ca: string; cert?: string; key?: string; rejectUnauthorized: true } | undefined {
  if (s.DATABASE_TLS_CA_FILE === undefined) {
    if (s.DATABASE_TLS_CERT_FILE !== undefined)
      throw new Error(
        'DATABASE_TLS_CERT_FILE needs DATABASE_TLS_CA_FILE, to verify the server it is shown to',
      );
    return undefined;
  }
  if ((s.DATABASE_TLS_CERT_FILE === undefined) !== (s.DATABASE_TLS_KEY_FILE === undefined))
    throw new Error('DATABASE_TLS_CERT_FILE and DATABASE_TLS_KEY_FILE go together');
  const read = (path: string, what: string) => readSecretFile(path, what);
  return {
    ca: read(s.DATABASE_TLS_CA_FILE, 'DATABASE_TLS_CA_FILE'),
    ...(s.DATABASE_TLS_CERT_FILE === undefined
      ? {}
      : {
          cert: read(s.DATABASE_TLS_CERT_FILE, 'DATABASE_TLS_CERT_FILE'),
          key: read(s.DATABASE_TLS_KEY_FILE!, 'DATABASE_TLS_KEY_FILE'),
        }),
    rejectUnauthorized: true,
  };
}

/** The PostgreSQL password of `DATABASE_PASSWORD_FILE`, read for every new connection. */
export function readPasswordFile(file: string): string {
  return readSecretFile(file, 'DATABASE_PASSWORD_FILE');
}
