import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/index.js';

describe('createLogger', () => {
  it('prints no credential, in messages, fields or errors', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const logger = createLogger('writer', 'info', {}, sink);
    logger.warn('could not connect to postgres://writer:hunter2@db:5432/tl', {
      url: 'redis://:redispass@redis:6379',
      error: new Error('auth failed for nats://svc:natspass@nats:4222'),
      env: { NATS_TOKEN: 'tokentoken' },
    });
    const line = JSON.parse(out) as Record<string, unknown>;
    expect(out).not.toMatch(/hunter2|redispass|natspass|tokentoken/);
    expect(line.msg).toBe('could not connect to postgres://writer:***@db:5432/tl');
    expect(line.url).toBe('redis://:***@redis:6379');
    expect(JSON.stringify(line.error)).toContain('nats://svc:***@nats:4222');
    expect(line.env).toEqual({ NATS_TOKEN: '***' });
    expect(line.service).toBe('writer');
  });
});
