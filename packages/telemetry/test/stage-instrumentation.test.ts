import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import type { Bus } from '@throughline/bus';
import { instrumentStage } from '../src/index.js';
import { memoryMeter } from './support.js';

describe('instrumentStage', () => {
  it('reports the stage counters at 0 before its first turn, so a first dead letter is an increase', async () => {
    const { meter, collect } = memoryMeter();
    instrumentStage({
      tracer: new BasicTracerProvider().getTracer('t'),
      meter,
      bus: {} as Bus,
      stage: 'enrich',
      topic: 'ingested',
      partitions: () => [],
    });
    const zeros = [...(await collect())]
      .filter(([, points]) => points.some((p) => p.value === 0 && p.attributes['tl.stage'] === 'enrich'))
      .map(([name]) => name)
      .sort();
    expect(zeros).toEqual([
      'tl.batches.processed',
      'tl.dead_lettered',
      'tl.events.processed',
      'tl.external_calls',
    ]);
  });
});
