import { ROOT_CONTEXT, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { positionOf } from '@throughline/pipeline';
import { carries, createPublishObserver, createTurnObserver, spansFromReadable } from '../src/index.js';

const STATS = {
  stage: 'state',
  partition: 2,
  messages: 1,
  events: 3,
  startedAtMs: 0,
  queueWaitMs: 1,
  durationMs: 5,
  dependencyMs: { redis: 2 },
  computeMs: 3,
  externalCalls: 1,
  retries: 0,
  deadLettered: 0,
};

describe('what spans record for `throughline trace`', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer('t');

  it("a turn's span holds its positions (beyond a double's integers) and gives the handler its trace id", () => {
    exporter.reset();
    const scope = createTurnObserver({ tracer }).startTurn({
      stage: 'state',
      partition: 2,
      messages: [],
      startTimeMs: Date.now(),
    });
    const first = (1n << 60n) + 1n;
    scope.end({ ...STATS, positions: { first, last: first + 2n } });
    const [span] = spansFromReadable(exporter.getFinishedSpans());
    expect(scope.traceId).toBe(span!.traceId);
    expect(span!.attributes['tl.position.first']).toBe(first.toString());
    expect(carries(span!, first + 2n)).toBe(true);
    expect(carries(span!, first + 3n)).toBe(false);
    expect(carries(span!, first - 1n)).toBe(false);
  });

  it('a failed turn ends at the end of its time split with the error; a failed wait with its status', async () => {
    exporter.reset();
    const startTimeMs = 1_700_000_000_000;
    const scope = createTurnObserver({ tracer }).startTurn({
      stage: 'state',
      partition: 2,
      messages: [],
      startTimeMs,
    });
    await expect(
      scope.dependency('redis', () => Promise.reject(new Error('READONLY replica'))),
    ).rejects.toThrow('READONLY replica');
    expect(await scope.dependency('postgres', () => Promise.resolve(4))).toBe(4);
    scope.end(STATS, new Error('turn failed'));
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((s) => [s.name, s]));
    const wait = byName.get('wait redis')!;
    expect(wait.status).toEqual({ code: SpanStatusCode.ERROR, message: 'READONLY replica' });
    expect(wait.events).toEqual([]);
    expect(byName.get('wait postgres')!.status.code).toBe(SpanStatusCode.UNSET);
    const turn = byName.get('process unknown')!;
    expect(wait.parentSpanContext?.spanId).toBe(turn.spanContext().spanId);
    expect(turn.status).toEqual({ code: SpanStatusCode.ERROR, message: 'turn failed' });
    expect(turn.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([
      ['exception', 'turn failed'],
    ]);
    expect(turn.attributes).toMatchObject({
      'tl.time.dependency_ms.redis': 2,
      'tl.time.dependency_ms': 2,
      'tl.events': 3,
    });
    const ms = (t: [number, number]) => t[0] * 1000 + t[1] / 1e6;
    expect(ms(turn.endTime) - ms(turn.startTime)).toBeCloseTo(STATS.durationMs, 3);
  });

  it('a failed publish records the error and no positions', () => {
    exporter.reset();
    const publish = createPublishObserver(tracer).startPublish({
      subject: 'tl.ingested.3',
      partition: 3,
      events: 1,
      messages: 1,
      requests: [],
    });
    publish.end(new Error('no responders'));
    const [span] = exporter.getFinishedSpans();
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no responders' });
    expect(span!.events.map((e) => e.name)).toEqual(['exception']);
    expect(span!.attributes['tl.position.first']).toBeUndefined();
  });

  it('an unsampled turn gives no trace id (its span is never exported, a row must not point at it)', () => {
    const unsampled = new BasicTracerProvider({ sampler: new AlwaysOffSampler() }).getTracer('off');
    const scope = createTurnObserver({ tracer: unsampled }).startTurn({
      stage: 'writer',
      partition: 0,
      messages: [],
      startTimeMs: Date.now(),
    });
    expect(scope.traceId).toBeUndefined();
    scope.end(STATS);
  });

  it("ingest's publish span holds the ids, sequences and position range of the messages it sent", () => {
    exporter.reset();
    const observer = createPublishObserver(tracer);
    const request = tracer.startSpan('request');
    // What `capture()` returns inside the request's handler: its context.
    const token = trace.setSpan(ROOT_CONTEXT, request);
    const publish = observer.startPublish({
      subject: 'tl.ingested.1',
      partition: 1,
      events: 5,
      messages: 2,
      requests: [token],
    });
    publish.end(undefined, [
      { batchId: 'ing-1-b', seq: 11, events: 2 },
      { batchId: 'ing-1-a', seq: 10, events: 3 },
    ]);
    request.end();
    const span = spansFromReadable(exporter.getFinishedSpans()).find(
      (s) => s.name === 'publish tl.ingested.1',
    )!;
    expect(span.parentSpanId).toBe(request.spanContext().spanId);
    expect(span.attributes).toMatchObject({
      'tl.batch_ids': 'ing-1-a,ing-1-b',
      'tl.seqs': '10,11',
      'tl.position.first': positionOf(10, 0).toString(),
      'tl.position.last': positionOf(11, 1).toString(),
    });
    expect(carries(span, positionOf(11, 2))).toBe(false);
  });

  it("a publish's parent is the first sampled request it carries, so a sampled request keeps its path", () => {
    exporter.reset();
    const request = (n: number, flags: TraceFlags) =>
      trace.setSpanContext(ROOT_CONTEXT, {
        traceId: String(n).repeat(32),
        spanId: String(n).repeat(16),
        traceFlags: flags,
      });
    const publish = createPublishObserver(tracer).startPublish({
      subject: 'tl.ingested.2',
      partition: 2,
      events: 3,
      messages: 1,
      requests: [request(1, TraceFlags.NONE), request(2, TraceFlags.SAMPLED), request(3, TraceFlags.SAMPLED)],
    });
    publish.end(undefined, [{ batchId: 'b', seq: 5, events: 3 }]);
    const [span] = spansFromReadable(exporter.getFinishedSpans());
    expect(span!.traceId).toBe('2'.repeat(32));
    expect(span!.parentSpanId).toBe('2'.repeat(16));
    expect(span!.links.map((l) => l.spanId).sort()).toEqual(['1'.repeat(16), '3'.repeat(16)]);
  });
});
