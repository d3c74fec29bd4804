import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNats, type NatsHandle } from '../src/index.js';
import { readFirstLine } from '../src/socket-probe.js';
import { isListening, natsRequest, processExists } from './helpers.js';

describe('startNats', () => {
  let nats: NatsHandle;

  beforeAll(async () => {
    nats = await startNats();
  });

  afterAll(async () => {
    await nats.stop();
  });

  it('runs JetStream on 127.0.0.1', async () => {
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    expect(nats.pid).toBeTypeOf('number');
    const info = await readFirstLine(nats.port);
    expect(info).toMatch(/^INFO /);
    expect(info).toContain('"jetstream":true');
  });

  it('keeps streams across kill -9 and restart on the same port', async () => {
    const created = await natsRequest(
      nats.port,
      '$JS.API.STREAM.CREATE.ORDERS',
      JSON.stringify({ name: 'ORDERS', subjects: ['orders.>'], storage: 'file' }),
    );
    expect(JSON.parse(created)).toMatchObject({ config: { name: 'ORDERS' } });

    const { port } = nats;
    const pid = nats.pid!;
    await nats.kill();
    expect(processExists(pid)).toBe(false);
    expect(nats.pid).toBeUndefined();
    expect(await isListening(port)).toBe(false);
    expect(readdirSync(nats.storeDir)).toContain('jetstream');

    await nats.restart();
    expect(nats.port).toBe(port);
    expect(nats.pid).not.toBe(pid);
    const info = JSON.parse(await natsRequest(nats.port, '$JS.API.STREAM.INFO.ORDERS', ''));
    expect(info).toMatchObject({ config: { name: 'ORDERS', subjects: ['orders.>'] } });
  });

  it('restarts gracefully when still running', async () => {
    const pid = nats.pid;
    await nats.restart();
    expect(nats.pid).not.toBe(pid);
    expect(await readFirstLine(nats.port)).toContain('"jetstream":true');
  });

  it('stop removes the store dir, is idempotent, and forbids restart', async () => {
    const other = await startNats();
    const { storeDir, port } = other;
    expect(existsSync(storeDir)).toBe(true);
    await other.stop();
    await other.stop();
    expect(existsSync(storeDir)).toBe(false);
    expect(await isListening(port)).toBe(false);
    await expect(other.restart()).rejects.toThrow(/cannot restart/);
  });

  it('gives parallel servers their own ports and dirs', async () => {
    const [a, b] = await Promise.all([startNats(), startNats()]);
    try {
      expect(a.port).not.toBe(b.port);
      expect(a.storeDir).not.toBe(b.storeDir);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
