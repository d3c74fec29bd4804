import { describe, expect, it } from 'vitest';
import { startHttpServer } from '../src/index.js';

describe('startHttpServer', () => {
  it('reports liveness, readiness as set, and serves metrics', async () => {
    let broken = false;
    const http = await startHttpServer({
      address: '127.0.0.1:0',
      metrics: (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('tl_up 1\n'),
      json: {
        '/lag': () => (broken ? Promise.reject(new Error('NATS is away')) : Promise.resolve({ writer: 3 })),
      },
    });
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${http.port}${path}`);
      return { status: res.status, body: await res.text() };
    };
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get('/readyz')).toEqual({ status: 503, body: 'not ready: starting\n' });
    http.setReady(true);
    expect((await get('/readyz')).status).toBe(200);
    let stalled: string | undefined = 'partition 3 stalled on redis (OOM) for 4 s';
    http.setHealthCheck(() => stalled);
    expect(await get('/readyz')).toEqual({
      status: 503,
      body: 'not ready: partition 3 stalled on redis (OOM) for 4 s\n',
    });
    stalled = undefined;
    expect((await get('/readyz')).status).toBe(200);
    http.setReady(false);
    expect(await get('/readyz')).toEqual({ status: 503, body: 'not ready: draining\n' });
    expect(await get('/metrics')).toEqual({ status: 200, body: 'tl_up 1\n' });
    expect((await get('/nope')).status).toBe(404);
    expect(await get('/lag')).toEqual({ status: 200, body: '{"writer":3}' });
    broken = true;
    expect(await get('/lag')).toEqual({ status: 503, body: '{"error":"NATS is away"}' });
    await http.close();
  });
});
