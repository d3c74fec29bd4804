/**
 * How a stage runs: the optimized design, or the article's naive starting point with some of its lessons switched
 * back on one at a time (the benchmark's ablation). The contracts on the bus are the same in every mode.
 */

/** The lessons that can be switched on over the naive design, in the order the ablation adds them. */
export const PIPELINE_FEATURES = ['snapshot', 'cache', 'batching', 'partitioned'] as const;
export type PipelineFeature = (typeof PIPELINE_FEATURES)[number];

export interface PipelineMode {
  /**
   * The lessons in force. `snapshot`: enrich reads the pushed configuration snapshot instead of calling
   * ConfigService.Get per event. `cache`: state keeps accounts in Redis (and memory) instead of reading and
   * writing PostgreSQL per event. `batching`: a stage does its I/O once per turn instead of once per event.
   * `partitioned`: an actor owns its partition, so it may trust what it keeps in memory between turns.
   */
  readonly features: ReadonlySet<PipelineFeature>;
  /** Events in flight per stage process while events are handled one by one (without `batching`). */
  readonly concurrency: number;
}

/** Whether every lesson is on: then the stage runs the optimized handlers unchanged. */
export function isOptimized(mode: PipelineMode): boolean {
  return PIPELINE_FEATURES.every((f) => mode.features.has(f));
}

/**
 * The mode from `PIPELINE_MODE` (`optimized`, the default, or `naive`), `PIPELINE_FEATURES` (a comma list of
 * lessons switched on over naive; ignored when optimized) and `NAIVE_CONCURRENCY`. Throws a RangeError naming a
 * bad value.
 */
export function parsePipelineMode(mode: string, features: string, concurrency: number): PipelineMode {
  if (mode !== 'optimized' && mode !== 'naive')
    throw new RangeError(`bad pipeline mode ${JSON.stringify(mode)}: expected optimized or naive`);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`bad naive concurrency ${concurrency}: expected a positive integer`);
  if (mode === 'optimized') return { features: new Set(PIPELINE_FEATURES), concurrency };
  const on = new Set<PipelineFeature>();
  for (const raw of features.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    if (!(PIPELINE_FEATURES as readonly string[]).includes(item))
      throw new RangeError(
        `bad pipeline feature ${JSON.stringify(item)}: expected some of ${PIPELINE_FEATURES.join(', ')}`,
      );
    on.add(item as PipelineFeature);
  }
  return { features: on, concurrency };
}
