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
  /**
   * Redis Sentinels (`host:port`, separated by commas): the state service asks them which server is the primary,
   * and again after a failover. REDIS_URL's host and port are then not used; its user, password and `rediss`
   * scheme still are.
   */
  REDIS_SENTINELS: z.string().min(1).optional(),
  /** The name the Sentinels know the primary by (`sentinel monitor <name> …`). */
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  /** The Sentinels' own password (`requirepass` in their configuration), from a file. */
  REDIS_SENTINEL_PASSWORD_FILE: z.string().min(1).optional(),
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
  if (s.REDIS_SENTINELS !== undefined) {
    const bad = sentinelAddresses(s.REDIS_SENTINELS).find((a) => !Number.isInteger(a.port) || a.host === '');
    if (bad !== undefined || sentinelAddresses(s.REDIS_SENTINELS).length === 0)
      return `REDIS_SENTINELS must list host:port pairs separated by commas, got ${JSON.stringify(s.REDIS_SENTINELS)}`;
  }
  return undefined;
}

/** `a:26379,b:26379` as host and port pairs (26379, Sentinel's port, when none is given). */
export function sentinelAddresses(text: string): { host: string; port: number }[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map((item) => {
      const colon = item.lastIndexOf(':');
      return colon < 0
        ? { host: item, port: 26379 }
        : { host: item.slice(0, colon), port: Number(item.slice(colon + 1)) };
    });
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
  const tlsOptions = tls
    ? {
        ...(s.REDIS_TLS_CA_FILE === undefined ? {} : { ca: file(s.REDIS_TLS_CA_FILE, 'REDIS_TLS_CA_FILE') }),
        ...(s.REDIS_TLS_CERT_FILE === undefined
          ? {}
          : {
              cert: file(s.REDIS_TLS_CERT_FILE, 'REDIS_TLS_CERT_FILE'),
              key: file(s.REDIS_TLS_KEY_FILE, 'REDIS_TLS_KEY_FILE'),
            }),
      }
    : undefined;
  return {
    ...(s.REDIS_SENTINELS === undefined
      ? {}
      : {
          sentinels: sentinelAddresses(s.REDIS_SENTINELS),
          name: s.REDIS_SENTINEL_NAME,
          // Subscribes to the Sentinels' +switch-master, so a failover is followed at once, not at the next error.
          failoverDetector: true,
          // A primary turned replica refuses writes (READONLY): ask the Sentinels again. The refused command fails
          // and its turn is retried, by then on the new primary.
          reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
          ...(s.REDIS_SENTINEL_PASSWORD_FILE === undefined
            ? {}
            : {
                sentinelPassword: readSecretFile(
                  s.REDIS_SENTINEL_PASSWORD_FILE,
                  'REDIS_SENTINEL_PASSWORD_FILE',
                ).trim(),
              }),
          ...(tlsOptions === undefined ? {} : { enableTLSForSentinelMode: true, sentinelTLS: tlsOptions }),
        }),
    ...(s.REDIS_USERNAME === undefined ? {} : { username: s.REDIS_USERNAME }),
    ...(s.REDIS_PASSWORD_FILE === undefined
      ? {}
      : { password: readSecretFile(s.REDIS_PASSWORD_FILE, 'REDIS_PASSWORD_FILE').trim() }),
    ...(tlsOptions === undefined ? {} : { tls: tlsOptions }),
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
