import { describe, expect, it } from 'vitest';
import {
  explainSpans,
  formatExplanation,
  parseOtlpJsonFile,
  spansFromJaeger,
  type SpanRecord,
} from '../src/index.js';

function turn(
  stage: string,
  startMs: number,
  durationMs: number,
  events: number,
  deps: Record<string, number>,
  queueWaitMs = 1,
): SpanRecord {
  const dependencyTotal = Object.values(deps).reduce((a, b) => a + b, 0);
  const attributes: SpanRecord['attributes'] = {
    'tl.stage': stage,
    'tl.events': events,
    'tl.time.queue_wait_ms': queueWaitMs,
    'tl.time.dependency_ms': dependencyTotal,
    'tl.time.compute_ms': durationMs - dependencyTotal,
    'tl.external_calls': Object.keys(deps).length,
  };
  for (const [d, ms] of Object.entries(deps)) attributes[`tl.time.dependency_ms.${d}`] = ms;
  return {
    name: `process tl.x.0`,
    traceId: 't',
    spanId: `${stage}${startMs}`,
    startMs,
    endMs: startMs + durationMs,
    attributes,
    links: [],
  };
}

describe('explainSpans', () => {
  it('names the stage with the most processing time per event and its dominant wait', () => {
    const spans: SpanRecord[] = [];
    for (let i = 0; i < 20; i++) {
      spans.push(turn('enrich', i * 10, 2, 1000, { nats: 1 }));
      spans.push(turn('state', i * 10, 4, 1000, { redis: 1.5, nats: 1 }));
      spans.push(turn('writer', i * 10, 60, 1000, { postgres: 55, nats: 1 }, 40));
    }
    const e = explainSpans(spans);
    expect(e.stages.map((s) => s.stage)).toEqual(['enrich', 'state', 'writer']);
    expect(e.bottleneck).toBe('writer');
    expect(e.dominantWait).toBe('postgres');
    expect(e.sentence).toMatch(
      /^The bottleneck is writer: its actors were busy \d+% of the time, .* waiting on postgres \(55\.0 ms per batch\)\.$/,
    );
    const writer = e.stages.find((s) => s.stage === 'writer')!;
    expect(writer.batchP50Ms).toBe(60);
    expect(writer.externalCallsPerEvent).toBeCloseTo(0.002);
    expect(Object.values(writer.share).reduce((a, b) => a + b, 0)).toBeCloseTo(1);
    const table = formatExplanation(e);
    expect(table).toMatch(/^stage\s+batches\s+events\s+events\/s/);
    expect(table).toContain('postgres %');
  });

  it('says so when there is nothing to explain', () => {
    expect(explainSpans([]).sentence).toMatch(/No batch spans found/);
  });
});

describe('span readers', () => {
  it('reads OTLP JSON (objects, arrays or lines) with attributes, links and the service name', () => {
    const request = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'throughline-writer' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: 'aa',
                  spanId: 'bb',
                  name: 'process tl.applied.3',
                  startTimeUnixNano: '1700000000000000000',
                  endTimeUnixNano: '1700000000025000000',
                  attributes: [
                    { key: 'tl.stage', value: { stringValue: 'writer' } },
                    { key: 'tl.events', value: { intValue: '1000' } },
                    { key: 'tl.time.compute_ms', value: { doubleValue: 2.5 } },
                  ],
                  links: [{ traceId: 'cc', spanId: 'dd' }],
                },
              ],
            },
          ],
        },
      ],
    };
    for (const text of [
      JSON.stringify(request),
      JSON.stringify([request]),
      `${JSON.stringify(request)}\n${JSON.stringify(request)}\n`,
    ]) {
      const spans = parseOtlpJsonFile(text);
      expect(spans[0]).toMatchObject({
        name: 'process tl.applied.3',
        service: 'throughline-writer',
        startMs: 1_700_000_000_000,
        endMs: 1_700_000_000_025,
        attributes: { 'tl.stage': 'writer', 'tl.events': 1000, 'tl.time.compute_ms': 2.5 },
        links: [{ traceId: 'cc', spanId: 'dd' }],
      });
    }
  });

  it("reads Jaeger's query API", () => {
    const spans = spansFromJaeger([
      {
        spans: [
          {
            traceID: 't1',
            spanID: 's1',
            operationName: 'process tl.enriched.1',
            startTime: 1_000_000,
            duration: 5_000,
            processID: 'p1',
            tags: [{ key: 'tl.stage', value: 'state' }],
            references: [{ refType: 'FOLLOWS_FROM', traceID: 't0', spanID: 's0' }],
          },
        ],
        processes: { p1: { serviceName: 'throughline-state' } },
      },
    ]);
    expect(spans[0]).toMatchObject({
      startMs: 1000,
      endMs: 1005,
      service: 'throughline-state',
      links: [{ traceId: 't0', spanId: 's0' }],
    });
  });
});
