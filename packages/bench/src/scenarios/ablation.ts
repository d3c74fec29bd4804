/**
 * Ablation: the naive design, then each lesson switched on in turn, ending with the full design. Every row runs
 * the same events on fresh servers and services.
 */
import type { Event } from '@throughline/contracts';
import { runPipeline, workload, type PipelineRow } from '../pipeline-run.js';
import type { Sizes } from '../sizes.js';

export const ABLATION_STEPS: { label: string; env: Record<string, string> }[] = [
  { label: 'naive', env: { PIPELINE_MODE: 'naive', PIPELINE_FEATURES: '' } },
  { label: '+ config snapshot', env: { PIPELINE_MODE: 'naive', PIPELINE_FEATURES: 'snapshot' } },
  { label: '+ state cache', env: { PIPELINE_MODE: 'naive', PIPELINE_FEATURES: 'snapshot,cache' } },
  { label: '+ batching', env: { PIPELINE_MODE: 'naive', PIPELINE_FEATURES: 'snapshot,cache,batching' } },
  { label: '+ partition-aligned (full design)', env: { PIPELINE_MODE: 'optimized' } },
];

export async function runAblation(
  sizes: Sizes,
  events: Event[],
  opts: { naiveConcurrency?: number; verify?: boolean; onRow?: (row: PipelineRow) => void } = {},
): Promise<PipelineRow[]> {
  const rows: PipelineRow[] = [];
  for (const step of ABLATION_STEPS) {
    const row = await runPipeline(
      {
        label: step.label,
        env: { ...step.env, NAIVE_CONCURRENCY: String(opts.naiveConcurrency ?? 50) },
        events: events.length,
        timeBoxMs: sizes.timeBoxMs,
        verify: opts.verify ?? false,
      },
      events,
    );
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}

/** The full design's capacity: its maximum throughput on a long run, and its latency when offered half of that. */
export interface Capacity {
  /** As fast as ingest accepts them (`sizes.capacityEvents`). */
  max: PipelineRow;
  /** Paced at half of `max`'s throughput (`sizes.halfLoadEvents`). */
  halfLoad: PipelineRow;
}

/** The half-load run's first seconds (JIT, connections, every account's first read from Redis) are left out. */
export const HALF_LOAD_WARMUP_MS = 2_000;

export async function runCapacity(
  sizes: Sizes,
  opts: { verify?: boolean; onRow?: (row: PipelineRow) => void } = {},
): Promise<Capacity> {
  const env = { PIPELINE_MODE: 'optimized' };
  const events = workload(Math.max(sizes.capacityEvents, sizes.halfLoadEvents));
  const max = await runPipeline(
    {
      label: `full design, ${sizes.capacityEvents.toLocaleString('en-US')} events (maximum)`,
      env,
      events: sizes.capacityEvents,
      timeBoxMs: sizes.timeBoxMs * 3,
      verify: opts.verify ?? false,
    },
    events.slice(0, sizes.capacityEvents),
  );
  opts.onRow?.(max);
  const pace = Math.max(1, Math.round(max.eventsPerSecond / 2));
  const halfLoad = await runPipeline(
    {
      label: `full design at half that (${pace.toLocaleString('en-US')} events/s offered)`,
      env,
      events: sizes.halfLoadEvents,
      timeBoxMs: Math.max(sizes.timeBoxMs, (2_000 * sizes.halfLoadEvents) / pace),
      verify: opts.verify ?? false,
      paceEventsPerSecond: pace,
      // A quarter of the run at most, so a short (test-sized) run still measures something.
      warmupMs: Math.min(HALF_LOAD_WARMUP_MS, (250 * sizes.halfLoadEvents) / pace),
    },
    events.slice(0, sizes.halfLoadEvents),
  );
  opts.onRow?.(halfLoad);
  return { max, halfLoad };
}
