/**
 * Ablation: the naive design, then each lesson switched on in turn, ending with the full design. Every row runs
 * the same events on fresh servers and services.
 */
import type { Event } from '@throughline/contracts';
import { runPipeline, type PipelineRow } from '../pipeline-run.js';
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
