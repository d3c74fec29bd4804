/**
 * One event's path through the pipeline, from its ledger row back to the client's request, read from spans.
 *
 * Jaeger cannot follow span links across traces, and a committed batch has many producers, so the path is found
 * here: the row keeps the trace id of the writer turn that inserted it; that turn's span links to the state turns
 * whose results it committed, each of those to the enrich turns they read, and those to ingest's publishes, whose
 * parent is the client's request. At every hop the span that carried *this* event is the linked one whose
 * position range (`tl.position.first` … `tl.position.last`) holds the row's position.
 */
import type { SpanRecord } from './span-records.js';
import {
  ATTR_TL_BATCH_IDS,
  ATTR_TL_COMPUTE_MS,
  ATTR_TL_DEPENDENCY_MS,
  ATTR_TL_EVENTS,
  ATTR_TL_POSITION_FIRST,
  ATTR_TL_POSITION_LAST,
  ATTR_TL_SEQS,
  ATTR_TL_STAGE,
} from './semconv.js';

/** What `trace` knows of the event from its ledger row. */
export interface LedgerRowRef {
  eventId: string;
  partition: number;
  position: bigint;
  /** The writer turn's trace id (32 hex digits). */
  traceId: string;
}

/** Where spans come from: the spans of one trace (Jaeger's `/api/traces/{id}`, or a file's). */
export interface SpanSource {
  trace(traceId: string): Promise<SpanRecord[]>;
}

export type HopStage = 'ingest' | 'enrich' | 'state' | 'writer';

export interface Hop {
  stage: HopStage;
  /** The span that carried the event (for ingest, its publish; the request is `requestSpan`). */
  span: SpanRecord;
  /** ingest: the client's request whose events the publish carried first; the others are `otherRequests`. */
  requestSpan?: SpanRecord;
  otherRequests?: number;
  /** ingest: the id of the message the event was published in, and its stream sequence. */
  batchId?: string;
  seq?: number;
  startMs: number;
  endMs: number;
  /** Before the hop: in the stream between the previous hop and this one (for ingest, accepting and lingering). */
  queuedMs: number;
  /** The hop's own time by component: each dependency it waited on, and `compute`. */
  timeMs: Record<string, number>;
  /** Events the span processed (the event shared its turn with them). */
  events: number;
  /** Spans other than the chosen one that carried the event too (retried or redelivered turns). */
  otherAttempts: number;
}

export interface EventPath {
  row: LedgerRowRef;
  /** In order: ingest, enrich, state, writer (those found). */
  hops: Hop[];
  /** Hops not found, each with why. */
  missing: { stage: HopStage; why: string }[];
  /** The hop that took longest (queued in front of it + its own time), and what its own time went on most. */
  slowest?: { stage: HopStage; totalMs: number; queuedMs: number; dominant: string; dominantMs: number };
}

const DEP_PREFIX = `${ATTR_TL_DEPENDENCY_MS}.`;

function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0;
}

/** Whether the span's position range holds `position`. */
export function carries(span: SpanRecord, position: bigint): boolean {
  const first = span.attributes[ATTR_TL_POSITION_FIRST];
  const last = span.attributes[ATTR_TL_POSITION_LAST];
  if (first === undefined || last === undefined) return false;
  try {
    return BigInt(first) <= position && position <= BigInt(last);
  } catch {
    return false;
  }
}

const isTurn = (stage: HopStage) => (s: SpanRecord) =>
  s.name.startsWith('process ') && s.attributes[ATTR_TL_STAGE] === stage;
const isIngestPublish = (s: SpanRecord) =>
  s.name.startsWith('publish ') && s.attributes[ATTR_TL_STAGE] === 'ingest';

/** Whether an ingest publish sent the message stored at `seq` (its position range alone can span others'). */
const sentSeq = (s: SpanRecord, seq: bigint): boolean =>
  String(s.attributes[ATTR_TL_SEQS] ?? '')
    .split(',')
    .includes(seq.toString());

/** Follows an event from its ledger row through the spans of `source`; never throws for spans it cannot find. */
export async function traceEventPath(row: LedgerRowRef, source: SpanSource): Promise<EventPath> {
  const traces = new Map<string, Promise<SpanRecord[]>>();
  const failures: string[] = [];
  const spansOf = (traceId: string): Promise<SpanRecord[]> => {
    let spans = traces.get(traceId);
    if (spans === undefined) {
      spans = source.trace(traceId).catch((err: unknown) => {
        failures.push(err instanceof Error ? err.message : String(err));
        return [];
      });
      traces.set(traceId, spans);
    }
    return spans;
  };
  /** Why a hop was not found: what the spans say, and the reads that failed (not the same as "not sampled"). */
  const because = (why: string): string =>
    failures.length === 0 ? why : `${why}; ${failures.length} trace read(s) failed, e.g. ${failures[0]}`;
  /** The spans `from` links to that match, found in their traces; the event's own first. */
  const linked = async (from: SpanRecord, match: (s: SpanRecord) => boolean): Promise<SpanRecord[]> => {
    const found: SpanRecord[] = [];
    const seen = new Set<string>();
    await Promise.all(
      from.links.map(async (link) => {
        const span = (await spansOf(link.traceId)).find((s) => s.spanId === link.spanId);
        if (span && match(span) && !seen.has(span.spanId)) {
          seen.add(span.spanId);
          found.push(span);
        }
      }),
    );
    // Newest first: of several attempts, `pick` takes the last to end before the next hop did.
    return found.sort((a, b) => b.endMs - a.endMs);
  };
  const pick = (candidates: SpanRecord[], before: SpanRecord): [SpanRecord | undefined, number] => {
    const chosen = candidates.find((s) => s.endMs <= before.endMs) ?? candidates[0];
    return [chosen, Math.max(0, candidates.length - 1)];
  };

  const path: EventPath = { row, hops: [], missing: [] };
  const writers = (await spansOf(row.traceId))
    .filter((s) => isTurn('writer')(s) && carries(s, row.position))
    .sort((a, b) => a.startMs - b.startMs);
  const writer = writers[0];
  if (writer === undefined) {
    path.missing.push({
      stage: 'writer',
      why: because(
        `no writer span of trace ${row.traceId} carries position ${row.position} (spans not exported, expired, or not in the source)`,
      ),
    });
    return path;
  }
  const chain: { stage: HopStage; span: SpanRecord; otherAttempts: number }[] = [
    { stage: 'writer', span: writer, otherAttempts: writers.length - 1 },
  ];
  let current = writer;
  for (const stage of ['state', 'enrich', 'ingest'] as const) {
    const seq = row.position >> 16n;
    const match =
      stage === 'ingest' ? (s: SpanRecord) => isIngestPublish(s) && sentSeq(s, seq) : isTurn(stage);
    const [span, otherAttempts] = pick(
      await linked(current, (s) => match(s) && carries(s, row.position)),
      current,
    );
    if (span === undefined) {
      path.missing.push({
        stage,
        why: because(
          `none of the ${current.links.length} spans the ${chain[0]!.stage} span links to is a ${stage} span carrying position ${row.position} (not sampled, not exported, or expired)`,
        ),
      });
      break;
    }
    chain.unshift({ stage, span, otherAttempts });
    current = span;
  }

  let previousEnd: number | undefined;
  for (const { stage, span, otherAttempts } of chain) {
    const hop: Hop =
      stage === 'ingest'
        ? await ingestHop(span, row.position, spansOf)
        : turnHop(stage, span, previousEnd ?? span.startMs);
    hop.otherAttempts = otherAttempts;
    path.hops.push(hop);
    previousEnd = hop.endMs;
  }
  path.slowest = slowestOf(path.hops);
  return path;
}

function turnHop(stage: HopStage, span: SpanRecord, previousEnd: number): Hop {
  const timeMs: Record<string, number> = {};
  let dependencies = 0;
  for (const [key, value] of Object.entries(span.attributes)) {
    if (!key.startsWith(DEP_PREFIX)) continue;
    timeMs[key.slice(DEP_PREFIX.length)] = num(value);
    dependencies += num(value);
  }
  const compute = span.attributes[ATTR_TL_COMPUTE_MS];
  timeMs['compute'] =
    compute === undefined ? Math.max(0, span.endMs - span.startMs - dependencies) : num(compute);
  return {
    stage,
    span,
    startMs: span.startMs,
    endMs: span.endMs,
    // A consumer may start before its producer's span ends (the producer acks after publishing).
    queuedMs: Math.max(0, span.startMs - previousEnd),
    timeMs,
    events: num(span.attributes[ATTR_TL_EVENTS]),
    otherAttempts: 0,
  };
}

async function ingestHop(
  publish: SpanRecord,
  position: bigint,
  spansOf: (traceId: string) => Promise<SpanRecord[]>,
): Promise<Hop> {
  const request = publish.parentSpanId
    ? (await spansOf(publish.traceId)).find((s) => s.spanId === publish.parentSpanId)
    : undefined;
  const seq = Number(position >> 16n);
  const seqs = String(publish.attributes[ATTR_TL_SEQS] ?? '').split(',');
  const ids = String(publish.attributes[ATTR_TL_BATCH_IDS] ?? '').split(',');
  const index = seqs.indexOf(String(seq));
  const startMs = request?.startMs ?? publish.startMs;
  return {
    stage: 'ingest',
    span: publish,
    ...(request ? { requestSpan: request } : {}),
    otherRequests: publish.links.length,
    ...(index >= 0 && ids[index] ? { batchId: ids[index] } : {}),
    seq,
    startMs,
    endMs: publish.endMs,
    queuedMs: 0,
    // From the request's start to the publish: validating, then lingering for the partition's batch to fill.
    timeMs: { batching: Math.max(0, publish.startMs - startMs), nats: publish.endMs - publish.startMs },
    events: num(publish.attributes[ATTR_TL_EVENTS]),
    otherAttempts: 0,
  };
}

function slowestOf(hops: Hop[]): EventPath['slowest'] {
  let slowest: EventPath['slowest'];
  for (const hop of hops) {
    const own = Object.values(hop.timeMs).reduce((a, b) => a + b, 0);
    const totalMs = hop.queuedMs + own;
    if (slowest !== undefined && totalMs <= slowest.totalMs) continue;
    const [dominant, dominantMs] = Object.entries(hop.timeMs).reduce((a, b) => (b[1] > a[1] ? b : a), [
      'compute',
      0,
    ] as [string, number]);
    slowest = { stage: hop.stage, totalMs, queuedMs: hop.queuedMs, dominant, dominantMs };
  }
  return slowest;
}
