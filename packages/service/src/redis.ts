/**
 * How the state service reaches Redis: the URL, and optionally an ACL user whose password is read from a file (a
 * mounted Secret) at every connection, and TLS with a CA (and a client certificate, for a server that verifies
 * clients). TLS is on for a `rediss://` URL or when a TLS file is set; the server's name is checked against the URL's
 * host.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import { readSecretFile } from '@throughline/bus';
import type { Logger } from '@throughline/runtime';

export const redisSettings = z.object({
  /** redis://host:port or rediss://host:port (TLS). A password here works, but REDIS_PASSWORD_FILE keeps it out. */
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  /** The ACL user (Redis 6+); without it, the password is the `default` user's. */
  REDIS_USERNAME: z.string().min(1).optional(),
  /** A file holding the password, read at every connection: a rotated password is used on the next reconnect. */
  REDIS_PASSWORD_FILE: z.string().min(1).optional(),
  /** CA (PEM) that signed the server's certificate; unset: the system's CAs. */
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  /** Client certificate and key (PEM), for a server that verifies clients (`tls-auth-clients yes`). */
  REDIS_TLS_CERT_FILE: z.string().min(1).optional(),
  REDIS_TLS_KEY_FILE: z.string().min(1).optional(),
});
export type RedisSettings = z.infer<typeof redisSettings>;

/** Why the settings cannot work, or undefined. */
export function redisSettingsProblem(s: RedisSettings): string | undefined {
  if ((s.REDIS_TLS_CERT_FILE === undefined) !== (s.REDIS_TLS_KEY_FILE === undefined))
    return 'REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together';
  if (
    s.REDIS_USERNAME !== undefined &&
    s.REDIS_PASSWORD_FILE === undefined &&
    !/\/\/[^/@]*:[^/@]*@/.test(s.REDIS_URL)
  )
    return 'REDIS_USERNAME needs its password: REDIS_PASSWORD_FILE';
  return undefined;
}

/** The ioredis options of `settings` (the URL aside). */
export function redisOptionsOf(s: RedisSettings): RedisOptions {
  const tls =
    s.REDIS_URL.startsWith('rediss://') ||
    s.REDIS_TLS_CA_FILE !== undefined ||
    s.REDIS_TLS_CERT_FILE !== undefined;
  // PEM files of mounted Secrets, read with the one secret-file reader (its errors name the file, not its content).
  const file = (path: string | undefined, what: string) =>
    path === undefined ? undefined : readSecretFile(path, what);
  return {
    ...(s.REDIS_USERNAME === undefined ? {} : { username: s.REDIS_USERNAME }),
    ...(s.REDIS_PASSWORD_FILE === undefined
      ? {}
      : { password: readSecretFile(s.REDIS_PASSWORD_FILE, 'REDIS_PASSWORD_FILE').trim() }),
    ...(tls
      ? {
          tls: {
            ...(s.REDIS_TLS_CA_FILE === undefined
              ? {}
              : { ca: file(s.REDIS_TLS_CA_FILE, 'REDIS_TLS_CA_FILE') }),
            ...(s.REDIS_TLS_CERT_FILE === undefined
              ? {}
              : {
                  cert: file(s.REDIS_TLS_CERT_FILE, 'REDIS_TLS_CERT_FILE'),
                  key: file(s.REDIS_TLS_KEY_FILE, 'REDIS_TLS_KEY_FILE'),
                }),
          },
        }
      : {}),
  };
}

/**
 * A Redis client on `settings`; connection errors are logged (ioredis reconnects), and the password file is read
 * again before each reconnect.
 */
export function createRedisClient(
  settings: RedisSettings,
  logger: Logger,
  options: RedisOptions = {},
): Redis {
  const redis = new Redis(settings.REDIS_URL, { ...options, ...redisOptionsOf(settings) });
  redis.on('error', (err: Error) => logger.warn('redis connection error', { error: err.message }));
  const file = settings.REDIS_PASSWORD_FILE;
  if (file !== undefined)
    redis.on('reconnecting', () => {
      try {
        redis.options.password = readSecretFile(file, 'REDIS_PASSWORD_FILE').trim();
      } catch (err) {
        logger.warn('cannot read the Redis password file; reconnecting with the last one read', {
          error: (err as Error).message,
        });
      }
    });
  return redis;
}
