/** `throughline explain` from a file of OTLP JSON and from Jaeger's query API (served here by a stand-in). */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './cli.js';

const dir = tempDir('explain');

function otlpTurn(stage: string, i: number, durationMs: number, deps: Record<string, number>) {
  const start = 1_700_000_000_000 + i * 10;
  const dependencyTotal = Object.values(deps).reduce((a, b) => a + b, 0);
  const attr = (key: string, value: number | string) => ({
    key,
    value: typeof value === 'string' ? { stringValue: value } : { doubleValue: value },
  });
  return {
    traceId: `t${stage}${i}`,
    spanId: `s${stage}${i}`,
    name: `process tl.x.${i % 4}`,
    startTimeUnixNano: String(BigInt(start) * 1_000_000n),
    endTimeUnixNano: String(BigInt(start + durationMs) * 1_000_000n),
    attributes: [
      attr('tl.stage', stage),
      attr('tl.partition', i % 4),
      attr('tl.events', 1000),
      attr('tl.time.queue_wait_ms', 1),
      attr('tl.time.compute_ms', durationMs - dependencyTotal),
      ...Object.entries(deps).map(([d, ms]) => attr(`tl.time.dependency_ms.${d}`, ms)),
    ],
  };
}

const spans = [
  ...Array.from({ length: 40 }, (_, i) => otlpTurn('state', i, 3, { redis: 1 })),
  ...Array.from({ length: 40 }, (_, i) => otlpTurn('writer', i, 38, { postgres: 35 })),
];

describe('throughline explain', () => {
  it('reads a file of OTLP JSON and names the bottleneck', async () => {
    const file = join(dir, 'spans.json');
    writeFileSync(file, JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }));
    const run = await runCli(['explain', '--file', file]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^stage\s+batches\s+events/m);
    expect(run.stdout).toMatch(/^writer\s+40\s+40000/m);
    expect(run.stdout).toMatch(/The bottleneck is writer: .* waiting on postgres/);
  });

  it("reads Jaeger's query API for each service and time range", async () => {
    const requests: URL[] = [];
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      requests.push(url);
      const service = url.searchParams.get('service');
      const stage =
        service === 'throughline-writer' ? 'writer' : service === 'throughline-state' ? 'state' : undefined;
      const data = stage
        ? spans
            .filter((s) => s.attributes[0]!.value.stringValue === stage)
            .map((s) => ({
              traceID: s.traceId,
              processes: { p1: { serviceName: service } },
              spans: [
                {
                  traceID: s.traceId,
                  spanID: s.spanId,
                  operationName: s.name,
                  startTime: Number(BigInt(s.startTimeUnixNano) / 1000n),
                  duration: Number((BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1000n),
                  processID: 'p1',
                  tags: s.attributes.map((a) => ({
                    key: a.key,
                    value: a.value.stringValue ?? a.value.doubleValue,
                  })),
                },
              ],
            }))
        : [];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const run = await runCli([
        'explain',
        '--jaeger',
        `http://127.0.0.1:${port}`,
        '--since',
        '10m',
        '--json',
      ]);
      expect(run.code).toBe(0);
      const explanation = JSON.parse(run.stdout) as { bottleneck: string; dominantWait: string };
      expect(explanation).toMatchObject({ bottleneck: 'writer', dominantWait: 'postgres' });
      expect(requests.map((u) => u.pathname)).toEqual(Array(4).fill('/api/traces'));
      const first = requests[0]!.searchParams;
      expect(Number(first.get('end')) - Number(first.get('start'))).toBe(600_000_000);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
