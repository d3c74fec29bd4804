/**
 * The state service's Redis connection through Sentinels: it finds the primary by asking them, and after a failover
 * (the primary killed, its replica promoted) it writes to the new primary without being restarted.
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@throughline/runtime';
import { redisRequest, startRedisSentinel, waitFor, type RedisSentinelHandle } from '@throughline/testkit';
import { createRedisClient, redisSettings, redisSettingsProblem, sentinelAddresses } from '../src/index.js';

describe('Redis through Sentinels', { timeout: 120_000 }, () => {
  let sentinel: RedisSentinelHandle;
  let client: Redis | undefined;

  beforeAll(async () => {
    sentinel = await startRedisSentinel();
  });
  afterAll(async () => {
    client?.disconnect();
    await sentinel?.stop();
  });

  it('finds the primary through the Sentinels and follows it when the replica is promoted', async () => {
    const settings = redisSettings.parse({
      // Not used for the address: the Sentinels name the primary.
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_SENTINELS: sentinel.sentinelAddresses,
      REDIS_SENTINEL_NAME: sentinel.masterName,
    });
    expect(redisSettingsProblem(settings)).toBeUndefined();
    client = createRedisClient(settings, silentLogger, { maxRetriesPerRequest: 1 });
    const [first, second] = sentinel.nodes;
    expect(await client.set('k', 'v1')).toBe('OK');
    expect(await redisRequest(first!.port, ['GET', 'k'])).toBe('v1');

    await first!.kill();
    expect(await sentinel.waitForNewPrimary(first!)).toBe(second);
    // Writes land on the new primary once the client followed the switch (a write meanwhile may fail and is retried).
    await waitFor(async () => (await client!.set('k', 'v2').catch(() => undefined)) === 'OK', {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(await redisRequest(second!.port, ['GET', 'k'])).toBe('v2');
  });

  it('reads the Sentinels as host:port pairs and says which setting is wrong', () => {
    expect(sentinelAddresses(' a:1, b ,c:26380')).toEqual([
      { host: 'a', port: 1 },
      { host: 'b', port: 26379 },
      { host: 'c', port: 26380 },
    ]);
    expect(redisSettingsProblem(redisSettings.parse({ REDIS_SENTINELS: 'a:x' }))).toMatch(/REDIS_SENTINELS/);
    expect(redisSettingsProblem(redisSettings.parse({ REDIS_SENTINELS: ' , ' }))).toMatch(/REDIS_SENTINELS/);
  });
});
