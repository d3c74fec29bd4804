import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import type { Bus } from '@throughline/bus';
import { instrumentStage } from '../src/index.js';

describe('instrumentStage', () => {
  it('reports the stage counters at 0 before its first turn, so a first dead letter is an increase', async () => {
    const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 60_000 });
    const meter = new MeterProvider({ readers: [reader] }).getMeter('t');
    instrumentStage({
      tracer: new BasicTracerProvider().getTracer('t'),
      meter,
      bus: {} as Bus,
      stage: 'enrich',
      topic: 'ingested',
      partitions: () => [],
    });
    await reader.forceFlush();
    const exported = metrics.getMetrics().at(-1)!.scopeMetrics[0]!.metrics;
    const zeros = exported
      .filter((m) => m.dataPoints.some((p) => p.value === 0 && p.attributes['tl.stage'] === 'enrich'))
      .map((m) => m.descriptor.name)
      .sort();
    expect(zeros).toEqual([
      'tl.batches.processed',
      'tl.dead_lettered',
      'tl.events.processed',
      'tl.external_calls',
    ]);
  });
});
