/**
 * The settings of the benchmark's designs, shared by the enrich, state and writer apps (their `config.ts` adds them
 * to the service's own): which design a stage runs and the latency injected per dependency round trip.
 */
import { z } from 'zod';
import { parseLatencySpec, type LatencySpec } from './latency.js';
import { parsePipelineMode, type PipelineMode } from './pipeline-mode.js';

/**
 * `INJECT_LATENCY`: added delay per dependency round trip (`redis=0.5ms,postgres=2ms~0.5ms`), a model of a
 * networked deployment on one machine. Empty (the default) injects nothing.
 */
export const injectLatencySetting = z
  .string()
  .default('')
  .transform((text, ctx): LatencySpec => {
    try {
      return parseLatencySpec(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

/**
 * How the stage runs (enrich, state and writer): `PIPELINE_MODE` `optimized` (the default) or `naive` (the
 * article's per-event design, for the benchmark), `PIPELINE_FEATURES` (lessons switched back on over naive:
 * `snapshot,cache,batching,partitioned`; empty by default) and `NAIVE_CONCURRENCY` (events in flight per stage
 * process when events are handled one by one; default 50).
 */
export const pipelineModeSettings = {
  PIPELINE_MODE: z.enum(['optimized', 'naive']).default('optimized'),
  PIPELINE_FEATURES: z
    .string()
    .default('')
    .refine(
      (text) =>
        text.split(',').every((f) => ['', 'snapshot', 'cache', 'batching', 'partitioned'].includes(f.trim())),
      {
        message: 'expected a comma list of snapshot, cache, batching, partitioned',
      },
    ),
  NAIVE_CONCURRENCY: z.coerce.number().int().min(1).max(100_000).default(50),
};

/** The stage's mode from the settings of `pipelineModeSettings`. */
export function pipelineModeOf(s: {
  PIPELINE_MODE: string;
  PIPELINE_FEATURES: string;
  NAIVE_CONCURRENCY: number;
}): PipelineMode {
  return parsePipelineMode(s.PIPELINE_MODE, s.PIPELINE_FEATURES, s.NAIVE_CONCURRENCY);
}
