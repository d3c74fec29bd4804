import { describe, expect, it } from 'vitest';
import { parseLatencySpec, withInjectedLatency } from '../src/index.js';

describe('parseLatencySpec', () => {
  it('reads delays with units and jitter', () => {
    const spec = parseLatencySpec('config=2ms, redis=500us,postgres=0.002s~1ms');
    expect(spec.get('config')).toEqual({ delayMs: 2, jitterMs: 0 });
    expect(spec.get('redis')).toEqual({ delayMs: 0.5, jitterMs: 0 });
    expect(spec.get('postgres')).toEqual({ delayMs: 2, jitterMs: 1 });
    expect(parseLatencySpec('').size).toBe(0);
  });

  it('names a bad item', () => {
    expect(() => parseLatencySpec('redis=fast')).toThrow(/bad latency item "redis=fast"/);
    expect(() => parseLatencySpec('redis=1ms~2ms')).toThrow(/jitter exceeds the delay/);
  });
});

describe('withInjectedLatency', () => {
  it('delays each call to the wrapped dependency and leaves others alone', async () => {
    const target = {
      calls: 0,
      commit() {
        this.calls++;
        return Promise.resolve('ok');
      },
    };
    const slow = withInjectedLatency(target, parseLatencySpec('postgres=30ms'), 'postgres');
    const started = performance.now();
    expect(await slow.commit()).toBe('ok');
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(target.calls).toBe(1);
    expect(withInjectedLatency(target, parseLatencySpec('redis=5ms'), 'postgres')).toBe(target);
  });
});
