import { createServer } from 'node:http';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it, vi } from 'vitest';
import { libraryInstrumentations, redisStatement, startTelemetry, tracingConfigured } from '../src/index.js';

describe('tracingConfigured', () => {
  it('follows the standard OTEL_* variables', () => {
    expect(tracingConfigured({})).toBe(false);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318' })).toBe(true);
    expect(tracingConfigured({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://jaeger:4318/v1/traces' })).toBe(
      true,
    );
    expect(
      tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_TRACES_EXPORTER: 'none' }),
    ).toBe(false);
    expect(
      tracingConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://jaeger:4318', OTEL_SDK_DISABLED: 'true' }),
    ).toBe(false);
  });
});

describe('library instrumentation', () => {
  it('leaves out what OTEL_NODE_DISABLED_INSTRUMENTATIONS names', () => {
    const names = (env: NodeJS.ProcessEnv) => libraryInstrumentations(env).map((i) => i.instrumentationName);
    expect(names({})).toHaveLength(3);
    const without = names({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: 'ioredis, pg' });
    expect(without).toHaveLength(1);
    expect(without[0]).toContain('grpc');
  });

  it('names a Redis command by its name and argument count, not its arguments', () => {
    expect(
      redisStatement('smismember', ['tl:{3}:seen:1', ...Array.from({ length: 2000 }, (_, i) => `ev-${i}`)]),
    ).toBe('SMISMEMBER (2001 args)');
    expect(redisStatement('get', ['k'])).toBe('GET (1 arg)');
  });
});

describe('startTelemetry', () => {
  it('serves metrics in the Prometheus text format, and no tracing when nothing is configured', async () => {
    const telemetry = startTelemetry({ serviceName: 'sdk-test', instanceId: 'sdk-test-0', env: {} });
    expect(telemetry.tracing).toBe(false);
    expect(telemetry.tracer.startSpan('turn').isRecording()).toBe(false);
    telemetry.meter.createCounter('tl.test.events').add(3, { 'tl.stage': 'writer' });
    const server = createServer((req, res) => telemetry.metricsHandler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/tl_test_events(_total)?\{[^}]*tl_stage="writer"[^}]*\} 3/);
    await new Promise<void>((r) => server.close(() => r()));
    await telemetry.shutdown();
  });

  it('exports spans with the service, its instance and the environment on the resource when tracing is on', async () => {
    // The in-memory exporter forgets its spans when shut down: keep what it was given.
    const exported: ReadableSpan[] = [];
    const exporter = new InMemorySpanExporter();
    const exportSpans = exporter.export.bind(exporter);
    exporter.export = (spans, done) => {
      exported.push(...spans);
      exportSpans(spans, done);
    };
    // The resource detectors read the process's own environment, as the SDK's do.
    vi.stubEnv('OTEL_RESOURCE_ATTRIBUTES', 'deployment.environment.name=staging');
    const telemetry = startTelemetry({
      serviceName: 'sdk-test',
      instanceId: 'sdk-test-1',
      partitions: [2, 5],
      env: {},
      traceExporter: exporter,
      instrumentLibraries: false,
    });
    expect(telemetry.tracing).toBe(true);
    const span = telemetry.tracer.startSpan('turn');
    expect(span.isRecording()).toBe(true);
    span.end();
    await telemetry.shutdown();
    vi.unstubAllEnvs();
    expect(exported.map((s) => s.name)).toEqual(['turn']);
    expect(exported[0]!.resource.attributes).toMatchObject({
      'service.name': 'sdk-test',
      'service.instance.id': 'sdk-test-1',
      'tl.partitions': '2,5',
      'deployment.environment.name': 'staging',
    });
  });
});
