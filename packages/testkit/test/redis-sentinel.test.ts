import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisRequest, startRedisSentinel, type RedisSentinelHandle } from '../src/index.js';

describe('startRedisSentinel', { timeout: 120_000 }, () => {
  let redis: RedisSentinelHandle;

  beforeAll(async () => {
    redis = await startRedisSentinel();
  });

  afterAll(async () => {
    await redis.stop();
  });

  it('runs a primary, its replica and three Sentinels that promote the replica when the primary dies', async () => {
    expect(redis.sentinelAddresses.split(',')).toHaveLength(3);
    const [first, second] = redis.nodes;
    expect(await redis.primary()).toBe(first);
    expect(await redisRequest(first!.port, ['SET', 'k', 'v1'])).toBe('OK');
    expect(await redisRequest(second!.port, ['SET', 'k', 'x'])).toBeInstanceOf(Error); // a read-only replica
    await redisRequest(first!.port, ['WAIT', '1', '5000']);
    expect(await redisRequest(second!.port, ['GET', 'k'])).toBe('v1');

    await first!.kill();
    expect(await redis.waitForNewPrimary(first!)).toBe(second);
    expect(await redisRequest(second!.port, ['SET', 'k', 'v2'])).toBe('OK');

    // Back, the old primary is made a replica of the new one and catches up.
    await first!.restart();
    await redis.waitForReplication();
    expect(await redisRequest(first!.port, ['GET', 'k'])).toBe('v2');

    // A failover on request hands the primary back.
    expect(await redis.failover()).toBe(first);
    expect(await redisRequest(first!.port, ['SET', 'k', 'v3'])).toBe('OK');
  });
});
