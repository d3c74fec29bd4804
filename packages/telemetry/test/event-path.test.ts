import { describe, expect, it } from 'vitest';
import {
  formatEventPath,
  traceEventPath,
  type LedgerRowRef,
  type SpanRecord,
  type SpanSource,
} from '../src/index.js';

const SEQ = 4242;
const POSITION = (BigInt(SEQ) << 16n) | 7n;
const range = (first: bigint, last: bigint) => ({
  'tl.position.first': first.toString(),
  'tl.position.last': last.toString(),
});
const ours = range(BigInt(SEQ) << 16n, (BigInt(SEQ) << 16n) | 99n);
const before = range(BigInt(SEQ - 10) << 16n, (BigInt(SEQ - 1) << 16n) | 99n);

let n = 0;
function span(
  name: string,
  stage: string,
  startMs: number,
  endMs: number,
  attributes: SpanRecord['attributes'],
  links: SpanRecord[] = [],
  parent?: SpanRecord,
): SpanRecord {
  n++;
  return {
    name,
    traceId: parent?.traceId ?? `trace${String(n).padStart(27, '0')}`,
    spanId: `span${n}`,
    startMs,
    endMs,
    attributes: { 'tl.stage': stage, ...attributes },
    links: links.map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
    ...(parent ? { parentSpanId: parent.spanId } : {}),
  };
}

const turn = (deps: Record<string, number>, compute: number, events = 100) => ({
  ...Object.fromEntries(Object.entries(deps).map(([d, ms]) => [`tl.time.dependency_ms.${d}`, ms])),
  'tl.time.compute_ms': compute,
  'tl.events': events,
});

/**
 * A path ingest → enrich → state → writer, the writer waiting 500 ms on postgres, with decoys at each hop: linked
 * spans of other positions that ended later than the event's own (picked if positions were not checked).
 */
function pipelineSpans() {
  const request = span('throughline.v1.IngestService/PublishBatch', 'ingest', 0, 30, {});
  const otherRequest = span('throughline.v1.IngestService/PublishBatch', 'ingest', 2, 30, {});
  const publish = span(
    'publish tl.ingested.3',
    'ingest',
    10,
    14,
    {
      ...ours,
      'tl.events': 100,
      'tl.batch_ids': `ing-3-other,ing-3-ours`,
      'tl.seqs': `${SEQ - 1},${SEQ}`,
    },
    [otherRequest],
    request,
  );
  // Another publish to the partition whose messages were stored on either side of ours: its position range
  // holds our position, its sequences do not.
  const otherPublish = span(
    'publish tl.ingested.3',
    'ingest',
    12,
    15,
    { ...range(BigInt(SEQ - 2) << 16n, (BigInt(SEQ + 1) << 16n) | 9n), 'tl.seqs': `${SEQ - 2},${SEQ + 1}` },
    [],
    otherRequest,
  );
  const enrich = span('process tl.ingested.3', 'enrich', 16, 21, turn({ config: 0, nats: 3 }, 2), [
    otherPublish,
    publish,
  ]);
  const failedState = span('process tl.enriched.3', 'state', 22, 25, turn({ redis: 3 }, 0), [enrich]);
  const state = span('process tl.enriched.3', 'state', 40, 52, turn({ redis: 6, nats: 4 }, 2), [enrich]);
  const otherState = span(
    'process tl.enriched.3',
    'state',
    30,
    38,
    { ...before, ...turn({ redis: 5 }, 3) },
    [],
  );
  const writer = span('process tl.applied.3', 'writer', 900, 1410, turn({ postgres: 500, nats: 4 }, 6), [
    otherState,
    state,
    failedState,
  ]);
  for (const s of [enrich, failedState, state, writer]) Object.assign(s.attributes, ours);
  return { request, otherRequest, publish, otherPublish, enrich, failedState, state, otherState, writer };
}

function sourceOf(spans: SpanRecord[]): SpanSource & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    trace: (traceId) => {
      asked.push(traceId);
      return Promise.resolve(spans.filter((s) => s.traceId === traceId));
    },
  };
}

const rowOf = (writer: SpanRecord): LedgerRowRef => ({
  eventId: 'pay-1',
  partition: 3,
  position: POSITION,
  traceId: writer.traceId,
});

describe('traceEventPath', () => {
  it('follows the links that carry the position from the writer back to the request, one span per hop', async () => {
    const s = pipelineSpans();
    const path = await traceEventPath(rowOf(s.writer), sourceOf(Object.values(s)));
    expect(path.missing).toEqual([]);
    expect(path.hops.map((h) => [h.stage, h.span.spanId])).toEqual([
      ['ingest', s.publish.spanId],
      ['enrich', s.enrich.spanId],
      ['state', s.state.spanId],
      ['writer', s.writer.spanId],
    ]);
    const [ingest, enrich, state, writer] = path.hops;
    expect(ingest!.requestSpan?.spanId).toBe(s.request.spanId);
    expect(ingest!.otherRequests).toBe(1);
    expect(ingest!.batchId).toBe('ing-3-ours');
    expect(ingest!.timeMs).toEqual({ batching: 10, nats: 4 });
    // Queued: from the previous hop's end to this one's start.
    expect(enrich!.queuedMs).toBe(2);
    expect(state!.queuedMs).toBe(19);
    expect(writer!.queuedMs).toBe(900 - 52);
    // The failed state attempt carried the event too; the one chosen is the last to end before the writer.
    expect(state!.otherAttempts).toBe(1);
    expect(writer!.timeMs).toEqual({ postgres: 500, nats: 4, compute: 6 });
    expect(path.slowest).toEqual({
      stage: 'writer',
      totalMs: 900 - 52 + 510,
      queuedMs: 848,
      dominant: 'postgres',
      dominantMs: 500,
    });
  });

  it('names the slowest hop in its table and sentence, with a Jaeger link per trace', async () => {
    const s = pipelineSpans();
    const text = formatEventPath(await traceEventPath(rowOf(s.writer), sourceOf(Object.values(s))), {
      jaegerUi: 'http://jaeger:16686',
    });
    expect(text).toMatch(
      /^writer\s+process tl\.applied\.3\s+\+900\.0 ms\s+848\.0 ms\s+510\.0 ms\s+postgres 500\.0 ms/m,
    );
    expect(text).toMatch(/^ingest\s+PublishBatch → publish tl\.ingested\.3 .* batch ing-3-ours/m);
    expect(text).toContain(
      'The slowest hop is writer: 1.36 s, 848.0 ms of it queued in front of it; its own time was mostly waiting on postgres (500.0 ms).',
    );
    expect(text).toContain(`request  ${s.request.traceId}  http://jaeger:16686/trace/${s.request.traceId}`);
    expect(text).toContain(`writer   ${s.writer.traceId}  http://jaeger:16686/trace/${s.writer.traceId}`);
  });

  it('names the compute of a hop that computed most', async () => {
    const s = pipelineSpans();
    Object.assign(s.state.attributes, turn({ redis: 1 }, 3000));
    s.state.endMs = 3041;
    s.writer.startMs = 3050;
    s.writer.endMs = 3060;
    Object.assign(s.writer.attributes, turn({ postgres: 5 }, 5));
    const path = await traceEventPath(rowOf(s.writer), sourceOf(Object.values(s)));
    expect(path.slowest).toMatchObject({ stage: 'state', dominant: 'compute', dominantMs: 3000 });
  });

  it('reports the hop where the links end, and what it found before', async () => {
    const s = pipelineSpans();
    const withoutEnrich = Object.values(s).filter((x) => x !== s.enrich);
    const path = await traceEventPath(rowOf(s.writer), sourceOf(withoutEnrich));
    expect(path.hops.map((h) => h.stage)).toEqual(['state', 'writer']);
    expect(path.missing).toEqual([
      { stage: 'enrich', why: expect.stringContaining('none of the 1 spans the state span links to') },
    ]);
    expect(formatEventPath(path)).toMatch(/^enrich: not found — /m);
  });

  it('finds nothing, without throwing, when the writer trace is absent or does not carry the position', async () => {
    const s = pipelineSpans();
    const failing: SpanSource = { trace: () => Promise.reject(new Error('HTTP 500')) };
    const gone = await traceEventPath(rowOf(s.writer), failing);
    expect(gone.hops).toEqual([]);
    expect(gone.missing[0]!.stage).toBe('writer');
    // A read that failed is said as such, not taken for spans that were never sampled.
    expect(gone.missing[0]!.why).toMatch(/1 trace read\(s\) failed, e\.g\. HTTP 500$/);
    expect(gone.slowest).toBeUndefined();
    const elsewhere = await traceEventPath(
      { ...rowOf(s.writer), position: POSITION + (1n << 20n) },
      sourceOf(Object.values(s)),
    );
    expect(elsewhere.hops).toEqual([]);
    expect(formatEventPath(elsewhere)).toContain('No hop of this event was found in the spans.');
  });

  it('fetches each trace once', async () => {
    const s = pipelineSpans();
    const source = sourceOf(Object.values(s));
    await traceEventPath(rowOf(s.writer), source);
    expect(source.asked.length).toBe(new Set(source.asked).size);
  });
});
