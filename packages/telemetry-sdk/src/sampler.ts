import {
  diag,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Link,
  type SpanKind,
} from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-base';

/**
 * Samples a span with no parent whenever one of its links is sampled, and asks `base` otherwise.
 *
 * A turn of enrich, state or writer starts a trace of its own and *links* to its messages' producers, so the
 * standard parent-based samplers decide every hop afresh: at a 10% ratio an event's four hops would all be kept for
 * 1 event in 10,000, and `throughline trace` could follow almost none. Following sampled links keeps the whole path
 * of every sampled request. It samples more turns than the ratio (a writer turn that commits a sampled event is
 * kept), but turns are batches, so that costs spans per batch, not per event.
 */
export class FollowLinksSampler implements Sampler {
  constructor(private readonly base: Sampler) {}

  shouldSample(
    context: Context,
    traceId: string,
    spanName: string,
    spanKind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    const parent = trace.getSpanContext(context);
    if ((parent === undefined || !trace.isSpanContextValid(parent)) && links.some(sampled))
      return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    return this.base.shouldSample(context, traceId, spanName, spanKind, attributes, links);
  }

  toString(): string {
    return `FollowLinksSampler{${this.base.toString()}}`;
  }
}

function sampled(link: Link): boolean {
  return trace.isSpanContextValid(link.context) && (link.context.traceFlags & TraceFlags.SAMPLED) !== 0;
}

/**
 * The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name (the specification's values; default
 * `parentbased_always_on`), read from `env` rather than the process's, wrapped in `FollowLinksSampler`.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim();
  const ratio = (): Sampler => {
    const arg = env.OTEL_TRACES_SAMPLER_ARG;
    const value = arg === undefined || arg.trim() === '' ? 1 : Number(arg);
    if (!Number.isFinite(value) || value < 0 || value > 1) {
      diag.error(`OTEL_TRACES_SAMPLER_ARG=${arg} is not a ratio in [0, 1]; sampling everything`);
      return new TraceIdRatioBasedSampler(1);
    }
    return new TraceIdRatioBasedSampler(value);
  };
  const base = ((): Sampler => {
    switch (name) {
      case 'always_on':
        return new AlwaysOnSampler();
      case 'always_off':
        return new AlwaysOffSampler();
      case 'traceidratio':
        return ratio();
      case 'parentbased_always_off':
        return new ParentBasedSampler({ root: new AlwaysOffSampler() });
      case 'parentbased_traceidratio':
        return new ParentBasedSampler({ root: ratio() });
      case 'parentbased_always_on':
        return new ParentBasedSampler({ root: new AlwaysOnSampler() });
      default:
        diag.error(`OTEL_TRACES_SAMPLER=${name} is not a known sampler; using parentbased_always_on`);
        return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    }
  })();
  return name === 'always_off' ? base : new FollowLinksSampler(base);
}
