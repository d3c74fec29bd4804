/**
 * What waiting on a dependency reports: failed turn attempts by kind, dependency and reason
 * (`tl_turn_failures_total`), the partitions stalled now by dependency (`tl_partitions_stalled`), and the time
 * partitions spent stalled (`tl_stalled_seconds_total`). A partition is stalled while its turn fails on a
 * dependency and is retried until it passes; alert on the gauge, not on the failures.
 */
import type { Attributes, Meter } from '@opentelemetry/api';
import type { FailureClass, Stall } from '@throughline/runtime';
import { ATTR_TL_KIND } from './ownership-instrumentation.js';
import { ATTR_TL_DEPENDENCY, ATTR_TL_STAGE } from './semconv.js';

export const ATTR_TL_REASON = 'tl.reason';

export interface FailureInstrumentationOptions {
  meter: Meter;
  stage: string;
  /** Read at each collection: a stage host (`hostStage`) or anything that counts the same way. */
  source: {
    stalled(): readonly Stall[];
    stalledMs(): number;
    failures(): readonly (FailureClass & { count: number })[];
  };
}

export function instrumentFailures(opts: FailureInstrumentationOptions): void {
  const { meter, source } = opts;
  const base: Attributes = { [ATTR_TL_STAGE]: opts.stage };
  const seen = new Map<string, number>(['redis', 'postgres', 'nats', 'config', 'unknown'].map((d) => [d, 0]));
  meter
    .createObservableCounter('tl.turn.failures', {
      description:
        'Failed turn attempts (tl.kind: dependency = retried until it passes, poison = dead-lettered after isolation, fenced = partition given up) by dependency and reason',
    })
    .addCallback((result) => {
      for (const f of source.failures())
        result.observe(f.count, {
          ...base,
          [ATTR_TL_KIND]: f.kind,
          [ATTR_TL_DEPENDENCY]: f.dependency,
          [ATTR_TL_REASON]: f.reason,
        });
    });
  meter
    .createObservableGauge('tl.partitions.stalled', {
      description: 'Partitions whose turn waits for a dependency now (unacked, retried until it passes)',
    })
    .addCallback((result) => {
      // Every dependency stays reported (0 when it holds no partition back), so `sum` and alerts see no gaps.
      for (const dependency of seen.keys()) seen.set(dependency, 0);
      for (const s of source.stalled()) seen.set(s.dependency, (seen.get(s.dependency) ?? 0) + 1);
      for (const [dependency, n] of seen) result.observe(n, { ...base, [ATTR_TL_DEPENDENCY]: dependency });
    });
  meter
    .createObservableCounter('tl.stalled.seconds', {
      description: 'Time partitions spent stalled on a dependency, summed over partitions',
      unit: 's',
    })
    .addCallback((result) => result.observe(source.stalledMs() / 1000, base));
}
