import { describe, expect, it } from 'vitest';
import { startRedis } from '../src/index.js';
import { isListening, processExists, redisCall } from './helpers.js';

describe('startRedis', () => {
  it('keeps appended writes across kill -9 and restart on the same port; flushAll empties it', async () => {
    const redis = await startRedis({ appendOnly: true });
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(await redisCall(redis.port, 'SET', 'greeting', 'hello')).toBe('+OK');

      const { port } = redis;
      await redis.kill();
      expect(await isListening(port)).toBe(false);
      await redis.restart();

      expect(redis.port).toBe(port);
      expect(await redisCall(port, 'PING')).toBe('+PONG');
      expect(await redisCall(port, 'GET', 'greeting')).toBe('hello');
      await redis.flushAll();
      expect(await redisCall(port, 'GET', 'greeting')).toBeNull();
    } finally {
      await redis.stop();
    }
  });

  it('runs without persistence by default and cleans up on stop', async () => {
    const redis = await startRedis();
    expect(await redisCall(redis.port, 'CONFIG', 'GET', 'appendonly')).toBe('*2');
    await redisCall(redis.port, 'SET', 'k', 'v');
    await redis.kill();
    await redis.restart();
    expect(await redisCall(redis.port, 'GET', 'k')).toBeNull();
    const { port } = redis;
    const pid = redis.pid!;
    await redis.stop();
    await redis.stop();
    expect(await isListening(port)).toBe(false);
    expect(processExists(pid)).toBe(false);
    expect(redis.pid).toBeUndefined();
  });
});
