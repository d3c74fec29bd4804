import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WaitTimeoutError, freePort, isWaitTimeoutError, waitFor } from '../src/index.js';

describe('freePort', () => {
  it('returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('waitFor', () => {
  it('resolves with the first value that is neither undefined nor false', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it('treats a throwing probe as not ready, and 0 as a value', async () => {
    let calls = 0;
    const value = await waitFor(
      () => {
        if (++calls < 2) return Promise.reject(new Error('connection refused'));
        return Promise.resolve(0);
      },
      { intervalMs: 1 },
    );
    expect(value).toBe(0);
  });

  it('throws WaitTimeoutError with the message and the last error as cause', async () => {
    const started = Date.now();
    const error: unknown = await waitFor(
      () => {
        throw new Error('still refused');
      },
      { timeoutMs: 100, intervalMs: 10, message: 'server never came up' },
    ).catch((e: unknown) => e);
    // Ended by its 100 ms timeout, not left waiting: the bound is loose for two busy cores, not a speed check.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(isWaitTimeoutError(error)).toBe(true);
    expect((error as WaitTimeoutError).message).toMatch(/^server never came up/);
    expect(((error as WaitTimeoutError).cause as Error).message).toBe('still refused');
  });
});
