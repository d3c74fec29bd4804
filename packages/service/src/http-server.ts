import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface HttpServerOptions {
  /** Address to bind, `host:port`; port 0 picks a free one. */
  address: string;
  /** Serves `GET /metrics` (Prometheus text), when given. */
  metrics?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Further `GET` paths answered with the JSON their function resolves to (a rejection answers 503). */
  json?: Record<string, () => Promise<unknown>>;
}

export interface RunningHttpServer {
  server: Server;
  port: number;
  /** Readiness as `/readyz` reports it: false until the service is connected and owns its partitions, and while draining. */
  setReady(ready: boolean, reason?: string): void;
  /**
   * A check consulted by `/readyz` while the service is ready: a string it returns is why the service is not
   * ready now (a partition stalled on a dependency), answered with 503.
   */
  setHealthCheck(check: () => string | undefined): void;
  close(): Promise<void>;
}

/**
 * The operational HTTP endpoints of a service: `/healthz` (the process is alive), `/readyz` (it can take work)
 * and `/metrics`.
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  let ready = false;
  let reason = 'starting';
  let check: () => string | undefined = () => undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const why = ready ? check() : reason;
      res
        .writeHead(why === undefined ? 200 : 503, { 'content-type': 'text/plain' })
        .end(why === undefined ? 'ready\n' : `not ready: ${why}\n`);
    } else if (path === '/metrics' && opts.metrics) {
      opts.metrics(req, res);
    } else if (path !== undefined && opts.json?.[path]) {
      opts.json[path]().then(
        (body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)),
        (err: unknown) =>
          res
            .writeHead(503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: err instanceof Error ? err.message : String(err) })),
      );
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  const [host, portText] = splitAddress(opts.address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(portText), host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : Number(portText);
  return {
    server,
    port,
    setReady(value, why = value ? '' : 'draining') {
      ready = value;
      reason = why;
    },
    setHealthCheck(value) {
      check = value;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function splitAddress(address: string): [string, string] {
  const i = address.lastIndexOf(':');
  if (i < 0) throw new RangeError(`address must be host:port, got ${JSON.stringify(address)}`);
  return [address.slice(0, i).replace(/^\[|\]$/g, ''), address.slice(i + 1)];
}
