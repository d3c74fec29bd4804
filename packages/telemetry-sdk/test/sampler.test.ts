import { ROOT_CONTEXT, SpanKind, TraceFlags, trace, type Link } from '@opentelemetry/api';
import { SamplingDecision } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { samplerFromEnv } from '../src/index.js';

const link = (flags: TraceFlags): Link => ({
  context: { traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: flags },
});
const decide = (env: NodeJS.ProcessEnv, links: Link[], parentFlags?: TraceFlags) => {
  const context =
    parentFlags === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, {
          traceId: '3'.repeat(32),
          spanId: '4'.repeat(16),
          traceFlags: parentFlags,
        });
  return samplerFromEnv(env).shouldSample(
    context,
    'f'.repeat(32),
    'process tl.applied.0',
    SpanKind.CONSUMER,
    {},
    links,
  ).decision;
};

describe('samplerFromEnv', () => {
  const never = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' };

  it("keeps a root span one of whose links is sampled, so an event's path is kept whole", () => {
    expect(decide(never, [link(TraceFlags.NONE), link(TraceFlags.SAMPLED)])).toBe(
      SamplingDecision.RECORD_AND_SAMPLED,
    );
  });

  it('asks the configured sampler otherwise', () => {
    expect(decide(never, [link(TraceFlags.NONE)])).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(never, [])).toBe(SamplingDecision.NOT_RECORD);
    expect(decide({ ...never, OTEL_TRACES_SAMPLER_ARG: '1' }, [])).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide({}, [])).toBe(SamplingDecision.RECORD_AND_SAMPLED);
  });

  it('follows a parent before any link, and always_off turns everything off', () => {
    expect(decide(never, [link(TraceFlags.SAMPLED)], TraceFlags.NONE)).toBe(SamplingDecision.NOT_RECORD);
    expect(decide(never, [], TraceFlags.SAMPLED)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(decide({ OTEL_TRACES_SAMPLER: 'always_off' }, [link(TraceFlags.SAMPLED)])).toBe(
      SamplingDecision.NOT_RECORD,
    );
  });
});
