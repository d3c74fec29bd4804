import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { DiagConsoleLogger, diag, metrics, trace, type Meter, type Tracer } from '@opentelemetry/api';
import { diagLogLevelFromString } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { samplerFromEnv } from './sampler.js';

export interface TelemetryOptions {
  /** `service.name` (`OTEL_SERVICE_NAME` overrides it, as the SDK specifies). */
  serviceName: string;
  /** `service.instance.id`, e.g. `state-1`. */
  instanceId: string;
  /** The partitions this instance owns, recorded on the resource as `tl.partitions`. */
  partitions?: readonly number[];
  serviceVersion?: string;
  /**
   * The environment, for the standard `OTEL_*` variables: traces go over OTLP/HTTP when
   * `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set and `OTEL_TRACES_EXPORTER` is not
   * `none`; otherwise tracing is off. `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` choose the sampler, which
   * also keeps a span whose link is sampled (see `FollowLinksSampler`). `OTEL_LOG_LEVEL` turns on the SDK's own
   * diagnostics. (`OTEL_RESOURCE_ATTRIBUTES` is read from the process's environment, by the SDK's detector.)
   */
  env: NodeJS.ProcessEnv;
  /** Exports spans here instead (tests use an in-memory exporter); turns tracing on. */
  traceExporter?: SpanExporter;
  /**
   * Instrument @grpc/grpc-js, ioredis and pg. Default: only when tracing is on. Their spans are all the
   * instrumentation gives (none of its metrics is used), and without tracing they would go nowhere while its ESM
   * loader hook costs each process almost half a CPU-second before it is ready.
   */
  instrumentLibraries?: boolean;
  /**
   * The caller's `import.meta.url`. When given, the instrumented libraries the caller can resolve are loaded here
   * with `require`, after the instrumentation is in place, and the service's ES modules that import them later get
   * those same (patched) modules: no ESM loader hook is needed, whose worker thread sees every module the process
   * loads (most of half a CPU-second before it is ready). Without it, the loader hook instruments them.
   */
  resolveFrom?: string;
}

export interface Telemetry {
  /** Whether spans are exported anywhere. */
  readonly tracing: boolean;
  readonly tracer: Tracer;
  readonly meter: Meter;
  /** Serves the Prometheus text format for `/metrics`. */
  readonly metricsHandler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

/** True when the standard variables ask for traces to be exported. */
export function tracingConfigured(env: NodeJS.ProcessEnv): boolean {
  if ((env.OTEL_TRACES_EXPORTER ?? '').split(',').includes('none') || env.OTEL_SDK_DISABLED === 'true')
    return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Starts OpenTelemetry for a service process: a resource naming the service, its instance and its partitions;
 * OTLP/HTTP trace export configured by the standard `OTEL_*` variables (off when none is set); Prometheus metrics
 * served by the service's own HTTP server; and, when tracing is on, instrumentation of @grpc/grpc-js, ioredis and
 * pg. Call it before those libraries are loaded (each app's entry starts telemetry, then imports the service).
 *
 * The providers are put together here rather than by `@opentelemetry/sdk-node`'s NodeSDK, which loads every
 * exporter it could be configured with (OTLP over gRPC and protobuf, logs, Zipkin): about a tenth of a
 * CPU-second more for each process to start, paid at every scale event on the cores that run the pipeline.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  const { env } = options;
  if (env.OTEL_LOG_LEVEL) diag.setLogger(new DiagConsoleLogger(), diagLogLevelFromString(env.OTEL_LOG_LEVEL));
  const tracing = options.traceExporter !== undefined || tracingConfigured(env);
  const instrument = options.instrumentLibraries ?? tracing;
  if (instrument && options.resolveFrom === undefined) registerInstrumentationHooks();

  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME ?? options.serviceName,
    [ATTR_SERVICE_VERSION]: options.serviceVersion ?? '0.1.0',
    'service.instance.id': options.instanceId,
    ...(options.partitions ? { 'tl.partitions': options.partitions.join(',') } : {}),
  });
  const detected = detectResources({ detectors: [envDetector, processDetector, hostDetector] });
  // As the SDK does: the defaults, then ours, then what the environment says (OTEL_RESOURCE_ATTRIBUTES wins).
  const merged = defaultResource().merge(resource).merge(detected);

  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ resource: merged, readers: [prometheus] });
  metrics.setGlobalMeterProvider(meterProvider);

  // Without tracing no tracer provider is registered: spans are the API's non-recording ones and cost nothing.
  let tracerProvider: NodeTracerProvider | undefined;
  if (tracing) {
    tracerProvider = new NodeTracerProvider({
      resource: merged,
      sampler: samplerFromEnv(env),
      spanProcessors: [
        new BatchSpanProcessor(options.traceExporter ?? new OTLPTraceExporter(), {
          maxQueueSize: 8192,
          maxExportBatchSize: 1024,
          scheduledDelayMillis: options.traceExporter ? 100 : 1000,
        }),
      ],
    });
    // Registers the AsyncLocalStorage context manager and the W3C trace-context and baggage propagators.
    tracerProvider.register();
  }
  const unregister = instrument
    ? registerInstrumentations({
        instrumentations: libraryInstrumentations(env),
        ...(tracerProvider ? { tracerProvider } : {}),
        meterProvider,
      })
    : () => {};
  if (instrument && options.resolveFrom !== undefined) preloadInstrumented(options.resolveFrom);
  return {
    tracing,
    tracer: trace.getTracer('throughline'),
    meter: metrics.getMeter('throughline'),
    metricsHandler: (req, res) => prometheus.getMetricsRequestHandler(req, res),
    shutdown: async () => {
      unregister();
      await Promise.all([tracerProvider?.shutdown(), meterProvider.shutdown()]);
    },
  };
}

/**
 * `db.query.text` of a Redis command span: the command and how many arguments it had. The library's default
 * serializer copies up to the first arguments of every command, on every command of a traced turn (the stages'
 * turns are traced, so always): for the state stage's SMISMEMBER/SADD of a turn's event ids that was ~2% of its CPU,
 * and the ids themselves say nothing a span needs.
 */
export function redisStatement(command: string, args: readonly unknown[]): string {
  return `${command.toUpperCase()} (${args.length} ${args.length === 1 ? 'arg' : 'args'})`;
}

/**
 * Instrumentation of @grpc/grpc-js, ioredis and pg, less those named in `OTEL_NODE_DISABLED_INSTRUMENTATIONS`
 * (comma-separated: `grpc`, `ioredis`, `pg`; the variable @opentelemetry/auto-instrumentations-node reads).
 */
export function libraryInstrumentations(env: NodeJS.ProcessEnv) {
  const disabled = new Set((env.OTEL_NODE_DISABLED_INSTRUMENTATIONS ?? '').split(',').map((s) => s.trim()));
  return [
    ...(disabled.has('grpc') ? [] : [new GrpcInstrumentation()]),
    ...(disabled.has('ioredis')
      ? []
      : [new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: redisStatement })]),
    ...(disabled.has('pg') ? [] : [new PgInstrumentation({ requireParentSpan: true })]),
  ];
}

let hooksRegistered = false;

/**
 * Loads, with `require` from `resolveFrom`, each instrumented library that module can resolve (the CommonJS hook of
 * the instrumentation patches it as it loads). An ES module importing it afterwards gets that module from the
 * CommonJS cache. A library the caller does not depend on is skipped.
 */
function preloadInstrumented(resolveFrom: string): void {
  const require = createRequire(resolveFrom);
  for (const name of INSTRUMENTED_MODULES) {
    let path: string;
    try {
      path = require.resolve(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') continue;
      throw err;
    }
    // Outside the try: a library that resolves but fails to load is an error, not a library to skip.
    require(path);
  }
}

/** The libraries the services instrument: the only modules the ESM loader hook needs to see. */
export const INSTRUMENTED_MODULES = ['@grpc/grpc-js', 'ioredis', 'pg'];

/**
 * Registers OpenTelemetry's ESM loader hook (import-in-the-middle), so that libraries imported by ES modules after
 * this call can be instrumented. Services are ES modules: their entry starts telemetry, then imports the rest. The
 * hook looks only at the instrumented libraries: wrapping every module a service loads cost a state instance
 * about a third of a second more CPU before it was ready (2.4 → 2.1 s measured), paid at each scale event on the
 * cores that run the pipeline.
 */
export function registerInstrumentationHooks(): void {
  if (hooksRegistered) return;
  hooksRegistered = true;
  const require = createRequire(import.meta.url);
  register(pathToFileURL(require.resolve('@opentelemetry/instrumentation/hook.mjs')).href, {
    data: { include: INSTRUMENTED_MODULES },
  });
}
