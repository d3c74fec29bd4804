/** What the telemetry tests share: a meter and a tracer whose output is kept in memory. */
import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** A meter, and its metrics as collected now: each one's data points (value and attributes) by name. */
export function memoryMeter() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  const meter = new MeterProvider({ readers: [reader] }).getMeter('t');
  const collect = async (): Promise<Map<string, { value: unknown; attributes: Attributes }[]>> => {
    await reader.forceFlush();
    const metrics = exporter.getMetrics().at(-1)?.scopeMetrics[0]?.metrics ?? [];
    return new Map(metrics.map((m) => [m.descriptor.name, m.dataPoints]));
  };
  return { meter, collect };
}

/** A tracer, and the spans it finished. */
export function memoryTracer() {
  const spans = new InMemorySpanExporter();
  const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }).getTracer('t');
  return { tracer, spans };
}
