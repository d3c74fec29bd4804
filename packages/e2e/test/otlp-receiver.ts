/** A minimal OTLP/HTTP receiver (JSON encoding): what a collector or Jaeger would get, kept in memory. */
import { createServer, type Server } from 'node:http';

export interface OtlpReceiver {
  url: string;
  /** Every export request received on /v1/traces, as parsed JSON (none when discarding). */
  requests: unknown[];
  /** Spans received (counted without parsing when discarding). */
  readonly spanCount: number;
  close(): Promise<void>;
}

/**
 * @param opts.discard count spans without parsing or keeping them: a sink that costs the machine next to nothing,
 * for benchmarks that measure what tracing costs the services.
 */
export async function startOtlpReceiver(opts: { discard?: boolean } = {}): Promise<OtlpReceiver> {
  const requests: unknown[] = [];
  let spanCount = 0;
  const marker = Buffer.from('"spanId"');
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      if (!String(req.headers['content-type']).includes('json')) {
        res.writeHead(415, { 'content-type': 'application/json' }).end('{"message":"send OTLP JSON"}');
        return;
      }
      const body = Buffer.concat(chunks);
      if (opts.discard) {
        for (let i = body.indexOf(marker); i >= 0; i = body.indexOf(marker, i + 1)) spanCount++;
      } else {
        const request = JSON.parse(body.toString('utf8')) as {
          resourceSpans?: { scopeSpans?: { spans?: unknown[] }[] }[];
        };
        requests.push(request);
        for (const rs of request.resourceSpans ?? [])
          for (const ss of rs.scopeSpans ?? []) spanCount += ss.spans?.length ?? 0;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get spanCount() {
      return spanCount;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
