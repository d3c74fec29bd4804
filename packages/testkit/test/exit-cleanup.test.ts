import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { spawnService, waitFor } from '../src/index.js';
import { isListening, processExists } from './helpers.js';

// The driver runs the built package in a separate Node process, as a test file would (`test` depends on `build`).
const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url));

function driver(script: string) {
  return spawnService({
    name: 'driver',
    command: process.execPath,
    args: ['--input-type=module', '-e', `import * as testkit from ${JSON.stringify(entry)};\n${script}`],
  });
}

describe('servers die with the test process', () => {
  it('when it exits without stopping them', async () => {
    const svc = driver(`
      const redis = await testkit.startRedis();
      console.log('started ' + JSON.stringify({ pid: redis.pid, port: redis.port }));
      process.exit(0);
    `);
    const match = await svc.waitForOutput(/started (\{.*\})/);
    const { pid, port } = JSON.parse(match[1]!) as { pid: number; port: number };
    expect(await svc.exited).toEqual({ code: 0, signal: null });
    // SIGKILL was sent as the driver exited; the kernel may take a moment to tear the server down.
    await waitFor(() => !processExists(pid), {
      timeoutMs: 5_000,
      message: 'redis-server outlived its test process',
    });
    expect(await isListening(port)).toBe(false);
  });

  it('when it is terminated by a signal', async () => {
    const svc = driver(`
      const nats = await testkit.startNats();
      console.log('started ' + JSON.stringify({ pid: nats.pid, port: nats.port, dir: nats.storeDir }));
      setInterval(() => {}, 1000);
    `);
    const match = await svc.waitForOutput(/started (\{.*\})/);
    const { pid, port, dir } = JSON.parse(match[1]!) as { pid: number; port: number; dir: string };
    expect(processExists(pid)).toBe(true);
    expect(await svc.kill('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' });
    await waitFor(() => !processExists(pid), {
      timeoutMs: 5_000,
      message: 'nats-server outlived its test process',
    });
    expect(await isListening(port)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
