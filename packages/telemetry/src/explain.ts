import type { SpanRecord } from './span-records.js';
import {
  ATTR_TL_PARTITION,
  ATTR_TL_COMPUTE_MS,
  ATTR_TL_DEPENDENCY_MS,
  ATTR_TL_EVENTS,
  ATTR_TL_EXTERNAL_CALLS,
  ATTR_TL_QUEUE_WAIT_MS,
  ATTR_TL_STAGE,
} from './semconv.js';

/** Where one stage's time went, from its batch spans. */
export interface StageReport {
  stage: string;
  batches: number;
  events: number;
  eventsPerSecond: number;
  batchP50Ms: number;
  batchP99Ms: number;
  /** Milliseconds by component: `queue wait`, each dependency, `compute`. */
  timeMs: Record<string, number>;
  /** Share of the stage's time by component (0..1), summing to 1. */
  share: Record<string, number>;
  externalCallsPerEvent: number;
  /** Processing time (without queue wait) per event, ms: the stage's cost. */
  busyMsPerEvent: number;
  /** Partitions seen in the stage's spans. */
  partitions: number;
  /**
   * Share of the observed window (from the first batch of any stage to the last) its partition actors were busy
   * (Σ batch time ÷ (window × partitions)): a stage near 1 is saturated, and work queues up in front of it.
   */
  utilisation: number;
}

export interface Explanation {
  stages: StageReport[];
  bottleneck: string | undefined;
  dominantWait: string | undefined;
  sentence: string;
}

const STAGE_ORDER = ['ingest', 'enrich', 'state', 'writer'];
const DEP_PREFIX = `${ATTR_TL_DEPENDENCY_MS}.`;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0;
}

/**
 * Turns batch spans into a per-stage table of where the time went, and names the bottleneck: the busiest stage
 * (the highest utilisation of its partition actors over the observed window), with its largest component.
 */
export function explainSpans(spans: readonly SpanRecord[]): Explanation {
  const byStage = new Map<string, SpanRecord[]>();
  for (const s of spans) {
    const stage = s.attributes[ATTR_TL_STAGE];
    const isBatch = s.name.startsWith('process ') || s.name.startsWith('publish ');
    if (typeof stage !== 'string' || !isBatch) continue;
    const list = byStage.get(stage) ?? [];
    list.push(s);
    byStage.set(stage, list);
  }
  const stages: StageReport[] = [];
  // Utilisation is measured over the window every stage was observed in, so a stage that finished early and then
  // sat idle is not mistaken for a saturated one.
  let windowStart = Infinity;
  let windowEnd = -Infinity;
  for (const list of byStage.values()) {
    for (const s of list) {
      windowStart = Math.min(windowStart, s.startMs);
      windowEnd = Math.max(windowEnd, s.endMs);
    }
  }
  const windowMs = Math.max(windowEnd - windowStart, 1e-3);
  for (const [stage, list] of byStage) stages.push(reportOf(stage, list, windowMs));
  stages.sort((a, b) => rank(a.stage) - rank(b.stage));

  const bottleneck = stages.reduce<StageReport | undefined>(
    (worst, s) => (!worst || s.busyMsPerEvent > worst.busyMsPerEvent ? s : worst),
    undefined,
  );
  if (bottleneck === undefined)
    return {
      stages,
      bottleneck: undefined,
      dominantWait: undefined,
      sentence: 'No batch spans found: nothing to explain.',
    };
  const components = Object.entries(bottleneck.timeMs).filter(([k]) => k !== 'queue wait');
  const [dominant, dominantMs] = components.reduce((a, b) => (b[1] > a[1] ? b : a), ['compute', 0] as [
    string,
    number,
  ]);
  const busy = components.reduce((t, [, ms]) => t + ms, 0);
  const what = dominant === 'compute' ? 'computing (its own code)' : `waiting on ${dominant}`;
  const sentence =
    `The bottleneck is ${bottleneck.stage}: its actors were busy ${Math.round(100 * bottleneck.utilisation)}% of the time, ` +
    `${Math.round((100 * dominantMs) / Math.max(busy, 1e-9))}% of that ${what} ` +
    `(${(dominantMs / Math.max(bottleneck.batches, 1)).toFixed(1)} ms per batch).`;
  return { stages, bottleneck: bottleneck.stage, dominantWait: dominant, sentence };
}

function rank(stage: string): number {
  const i = STAGE_ORDER.indexOf(stage);
  return i < 0 ? STAGE_ORDER.length : i;
}

function reportOf(stage: string, spans: SpanRecord[], windowMs: number): StageReport {
  let events = 0;
  let calls = 0;
  const partitions = new Set<unknown>();
  let busyWall = 0;
  let first = Infinity;
  let last = -Infinity;
  const durations: number[] = [];
  const timeMs: Record<string, number> = { 'queue wait': 0 };
  for (const s of spans) {
    const duration = s.endMs - s.startMs;
    durations.push(duration);
    busyWall += duration;
    partitions.add(s.attributes[ATTR_TL_PARTITION] ?? s.attributes['messaging.destination.partition.id']);
    events += num(s.attributes[ATTR_TL_EVENTS]);
    calls += num(s.attributes[ATTR_TL_EXTERNAL_CALLS]);
    first = Math.min(first, s.startMs);
    last = Math.max(last, s.endMs);
    timeMs['queue wait']! += num(s.attributes[ATTR_TL_QUEUE_WAIT_MS]);
    let accounted = 0;
    for (const [key, value] of Object.entries(s.attributes)) {
      if (!key.startsWith(DEP_PREFIX)) continue;
      const dep = key.slice(DEP_PREFIX.length);
      timeMs[dep] = (timeMs[dep] ?? 0) + num(value);
      accounted += num(value);
    }
    if (s.name.startsWith('publish ')) {
      // A producer span is all waiting for the stream's ack.
      timeMs['nats'] = (timeMs['nats'] ?? 0) + duration;
      accounted += duration;
    }
    const compute = s.attributes[ATTR_TL_COMPUTE_MS];
    timeMs['compute'] =
      (timeMs['compute'] ?? 0) + (compute === undefined ? Math.max(0, duration - accounted) : num(compute));
  }
  durations.sort((a, b) => a - b);
  const total = Object.values(timeMs).reduce((a, b) => a + b, 0);
  const share: Record<string, number> = {};
  for (const [k, v] of Object.entries(timeMs)) share[k] = total > 0 ? v / total : 0;
  const busy = total - (timeMs['queue wait'] ?? 0);
  const windowS = Math.max((last - first) / 1000, 1e-3);
  return {
    stage,
    batches: spans.length,
    events,
    eventsPerSecond: events / windowS,
    batchP50Ms: percentile(durations, 0.5),
    batchP99Ms: percentile(durations, 0.99),
    timeMs,
    share,
    externalCallsPerEvent: events > 0 ? calls / events : 0,
    busyMsPerEvent: events > 0 ? busy / events : 0,
    partitions: partitions.size,
    utilisation: Math.min(1, busyWall / (windowMs * Math.max(partitions.size, 1))),
  };
}

/** The explanation as a terminal table followed by its one-sentence verdict. */
export function formatExplanation(e: Explanation): string {
  if (e.stages.length === 0) return e.sentence;
  const components = [...new Set(e.stages.flatMap((s) => Object.keys(s.timeMs)))].sort(
    (a, b) => order(a) - order(b) || a.localeCompare(b),
  );
  const header = [
    'stage',
    'batches',
    'events',
    'events/s',
    'batch p50',
    'batch p99',
    'busy %',
    ...components.map((c) => `${c} %`),
    'calls/event',
  ];
  const rows = e.stages.map((s) => [
    s.stage,
    String(s.batches),
    String(s.events),
    Math.round(s.eventsPerSecond).toLocaleString('en-US'),
    `${s.batchP50Ms.toFixed(1)} ms`,
    `${s.batchP99Ms.toFixed(1)} ms`,
    `${(100 * s.utilisation).toFixed(0)}`,
    ...components.map((c) => (s.share[c] === undefined ? '-' : `${(100 * s.share[c]).toFixed(1)}`)),
    s.externalCallsPerEvent.toFixed(4),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), '', e.sentence].join('\n');
}

function order(component: string): number {
  if (component === 'queue wait') return 0;
  if (component === 'compute') return 2;
  return 1;
}
