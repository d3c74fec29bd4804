/**
 * @throughline/telemetry — tracing and metrics of the pipeline on `@opentelemetry/api` only (the SDK is set up by
 * @throughline/telemetry-sdk in the apps). It turns each turn into a `process tl.<stage>.<p>` CONSUMER span linked
 * to every message's producer, each ingest batch into a `publish tl.ingested.<p>` PRODUCER span, records the time
 * split (queue wait, each dependency, compute) on spans and as metrics, and explains spans: where the time went,
 * per stage (`explainSpans`) and for one event from its ledger row back to its request (`traceEventPath`).
 *
 * ```ts
 * const metrics = new PipelineMetrics(metricsApi.getMeter('throughline'));
 * const observer = createTurnObserver({ tracer: trace.getTracer('throughline'), metrics });
 * await hostStage({ ..., actor: { observer } });
 * console.log(formatExplanation(explainSpans(parseOtlpJsonFile(text))));
 * ```
 */
export * as semconv from './semconv.js';
export { injectHeaders, extractSpanContext, linksFrom } from './propagation.js';
export { endSpan, type SpanEnding } from './end-span.js';
export { PipelineMetrics } from './metrics.js';
export { createTurnObserver, type TurnObserverOptions } from './turn-observer.js';
export { createPublishObserver } from './publish-observer.js';
export { explainSpans, formatExplanation, type Explanation, type StageReport } from './explain.js';
export {
  carries,
  traceEventPath,
  type EventPath,
  type Hop,
  type HopStage,
  type LedgerRowRef,
  type SpanSource,
} from './event-path.js';
export { formatEventPath, slowestSentence } from './event-path-format.js';
export {
  parseOtlpJsonFile,
  spansFromJaeger,
  spansFromOtlpJson,
  spansFromReadable,
  type ReadableSpanLike,
  type SpanRecord,
} from './span-records.js';
export { instrumentStage, type StageInstrumentationOptions } from './stage-instrumentation.js';
export { instrumentOwnership, type OwnershipInstrumentationOptions } from './ownership-instrumentation.js';
export { instrumentFailures, type FailureInstrumentationOptions } from './failure-instrumentation.js';
