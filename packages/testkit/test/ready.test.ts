import { describe, expect, it } from 'vitest';
import { spawnService, waitForReady } from '../src/index.js';

/** Prints log lines the way the services do (pino JSON), the ready line after one that merely mentions it. */
function service(readyFields: Record<string, unknown>): string {
  return `
    console.log(JSON.stringify({ level: 30, msg: 'starting', note: '"msg":"ready" comes later' }));
    console.log(JSON.stringify({ level: 30, service: 'x', ...${JSON.stringify(readyFields)}, msg: 'ready' }));
    setInterval(() => {}, 1000);
  `;
}

describe('waitForReady', () => {
  it('reads the ports from the ready line', async () => {
    const svc = spawnService({
      name: 'ingest',
      command: process.execPath,
      args: ['-e', service({ httpPort: 40001, port: 40002 })],
    });
    try {
      const ready = await waitForReady(svc);
      expect(ready.httpPort).toBe(40001);
      expect(ready.grpcPort()).toBe(40002);
    } finally {
      await svc.kill('SIGKILL');
    }
  });

  it('names the service when its ready line has no gRPC port', async () => {
    const svc = spawnService({
      name: 'state',
      command: process.execPath,
      args: ['-e', service({ httpPort: 40003 })],
    });
    try {
      const ready = await waitForReady(svc);
      expect(ready.httpPort).toBe(40003);
      expect(() => ready.grpcPort()).toThrow(/^state: its ready line reports no gRPC port/);
    } finally {
      await svc.kill('SIGKILL');
    }
  });
});
