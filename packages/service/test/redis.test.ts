/**
 * The state service's Redis connection against a real redis-server serving TLS only, verifying client
 * certificates, with the ACL of deploy/redis/users.acl: connects as its user over TLS, is refused with a wrong
 * password, an unknown CA or no client certificate, and may not do what the ACL withholds.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@throughline/runtime';
import { aclFileUsers, createTestPki, startRedis, waitFor, type RedisHandle } from '@throughline/testkit';
import { createRedisClient, redisSettings, redisSettingsProblem } from '../src/index.js';

const ACL_FILE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../deploy/redis/users.acl');
const pki = createTestPki();
const ca = pki.ca('redis-ca');
const otherCa = pki.ca('other-ca');
const server = pki.cert('redis', ca, 'server');
const client = pki.cert('state', ca, 'client');
const password = randomBytes(12).toString('base64url');
const passwordFile = join(pki.dir, 'redis-password');
writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
/** A test-only administrator, to rotate the service user's password as an operator would. */
const adminPasswordFile = join(pki.dir, 'redis-admin-password');
writeFileSync(adminPasswordFile, `${randomBytes(12).toString('base64url')}\n`, { mode: 0o600 });

let redis: RedisHandle;
const clients: Redis[] = [];
const settings = (extra: Record<string, string> = {}) =>
  redisSettings.parse({
    REDIS_URL: redis.url,
    REDIS_USERNAME: 'throughline',
    REDIS_PASSWORD_FILE: passwordFile,
    REDIS_TLS_CA_FILE: ca.cert,
    REDIS_TLS_CERT_FILE: client.cert,
    REDIS_TLS_KEY_FILE: client.key,
    ...extra,
  });
const connect = (extra: Record<string, string> = {}) => {
  const c = createRedisClient(settings(extra), silentLogger, {
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  clients.push(c);
  return c;
};
/** Connects with `extra` settings: 'connected', or the connection errors the client reported. */
async function connectError(
  extra: Record<string, string>,
  given: ReturnType<typeof settings> = settings(extra),
): Promise<string> {
  const errors: string[] = [];
  const logger = {
    ...silentLogger,
    warn: (_msg: string, f?: Record<string, unknown>) => void errors.push(String(f?.error)),
  };
  const c = createRedisClient(given, logger, { lazyConnect: true, retryStrategy: () => null });
  clients.push(c);
  const connected = await c
    .connect()
    .then(() => c.ping())
    .then(
      () => true,
      () => false,
    );
  return connected ? 'connected' : errors.join('; ');
}

beforeAll(async () => {
  redis = await startRedis({
    tls: { cert: server.cert, key: server.key, ca: ca.cert, clientCert: client },
    users: [
      ...aclFileUsers(readFileSync(ACL_FILE, 'utf8'), password),
      ['admin', 'on', `>${readFileSync(adminPasswordFile, 'utf8').trim()}`, '~*', '&*', '+@all'],
    ],
  });
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
});

describe('Redis over TLS as an ACL user', () => {
  it('connects with its user, password file, CA and client certificate, and reads and writes its keys', async () => {
    expect(redis.url).toMatch(/^rediss:\/\/localhost:\d+$/);
    const c = connect();
    await c.connect();
    expect(await c.call('ACL', 'WHOAMI').catch((e: Error) => e.message)).toMatch(/NOPERM/);
    await c.hset('tl:abc:{1}:acct', 'balance', '5');
    expect(await c.hget('tl:abc:{1}:acct', 'balance')).toBe('5');
    expect(await c.eval("return redis.call('HGET', KEYS[1], 'balance')", 1, 'tl:abc:{1}:acct')).toBe('5');
  });

  it('may not touch keys outside tl:, flush, reconfigure, or run a script on other keys', async () => {
    const c = connect();
    await c.connect();
    const attempts: [string, () => Promise<unknown>][] = [
      ['SET other:key', () => c.set('other:key', '1')],
      ['FLUSHALL', () => c.flushall()],
      ['FLUSHDB', () => c.flushdb()],
      ['CONFIG SET', () => c.call('CONFIG', 'SET', 'maxmemory', '1')],
      ['KEYS', () => c.call('KEYS', '*')],
      ['SCRIPT FLUSH', () => c.call('SCRIPT', 'FLUSH')],
      ['ACL SETUSER', () => c.call('ACL', 'SETUSER', 'throughline', '+@all')],
      ['EVAL on other:key', () => c.eval("return redis.call('SET', KEYS[1], '1')", 1, 'other:key')],
    ];
    for (const [what, attempt] of attempts)
      expect(
        await attempt().then(
          () => 'allowed',
          (e: Error) => e.message,
        ),
        what,
      ).toMatch(/NOPERM/);
  });

  it('is refused with a wrong password, without its client certificate, or trusting another CA', async () => {
    const wrong = join(pki.dir, 'wrong-password');
    writeFileSync(wrong, 'not-it\n', { mode: 0o600 });
    expect(await connectError({ REDIS_PASSWORD_FILE: wrong })).toMatch(/WRONGPASS/);
    expect(await connectError({ REDIS_TLS_CA_FILE: otherCa.cert })).toMatch(
      /certificate|self.signed|verify/i,
    );
    // The server verifies clients: without a certificate the handshake fails.
    const { REDIS_TLS_CERT_FILE: _cert, REDIS_TLS_KEY_FILE: _key, ...withoutCertificate } = settings();
    expect(await connectError({}, withoutCertificate)).toMatch(
      /certificate|handshake|reset|closed|EPIPE|alert/i,
    );
  });

  it('reads the password file again before reconnecting: a rotated password needs no restart', async () => {
    const c = createRedisClient(settings(), silentLogger, { maxRetriesPerRequest: 1 });
    clients.push(c);
    expect(await c.ping()).toBe('PONG');
    const admin = connect({ REDIS_USERNAME: 'admin', REDIS_PASSWORD_FILE: adminPasswordFile });
    await admin.connect();
    // The operator's rotation: the new password added, the file updated, the old password removed, and the
    // service's connections dropped.
    const rotated = randomBytes(12).toString('base64url');
    await admin.call('ACL', 'SETUSER', 'throughline', `>${rotated}`);
    writeFileSync(passwordFile, `${rotated}\n`);
    await admin.call('ACL', 'SETUSER', 'throughline', `<${password}`);
    await admin.call('CLIENT', 'KILL', 'USER', 'throughline');
    await waitFor(async () => (await c.ping().catch(() => undefined)) === 'PONG', {
      message: 'the client did not reconnect with the rotated password',
    });
    expect(await connectError({ REDIS_PASSWORD_FILE: adminPasswordFile })).toMatch(/WRONGPASS/);
    writeFileSync(passwordFile, `${password}\n`);
    await admin.call('ACL', 'SETUSER', 'throughline', `>${password}`, `<${rotated}`);
  });
});

describe('Redis settings', () => {
  it('say what does not go together', () => {
    expect(redisSettingsProblem(redisSettings.parse({ REDIS_TLS_CERT_FILE: 'a' }))).toMatch(/go together/);
    expect(redisSettingsProblem(redisSettings.parse({ REDIS_USERNAME: 'u' }))).toMatch(/REDIS_PASSWORD_FILE/);
    expect(
      redisSettingsProblem(redisSettings.parse({ REDIS_USERNAME: 'u', REDIS_URL: 'redis://u:p@h:6379' })),
    ).toBeUndefined();
  });
});
