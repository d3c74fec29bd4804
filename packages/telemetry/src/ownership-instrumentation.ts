/**
 * What partition ownership reports: a span per hand-over (`acquire tl.<topic>.<p>` when this instance takes a
 * partition, covering the pause the partition saw when its previous owner released it; `release tl.<topic>.<p>`
 * covering the drain of the turn in flight; `lose tl.<topic>.<p>` when a lease was taken away), and metrics:
 * hand-overs by kind, the pause of a moved partition, partitions owned, and effects refused as stale (fenced).
 */
import { SpanKind, type Attributes, type Meter, type Tracer } from '@opentelemetry/api';
import type { Topic } from '@throughline/contracts';
import type { Lease, OwnershipObserver } from '@throughline/runtime';
import { endSpan } from './end-span.js';
import { ATTR_TL_PARTITION, ATTR_TL_STAGE } from './semconv.js';

/** Seconds: a hand-over pause is tens of milliseconds when cooperative, the lease time to live after a crash. */
const PAUSE_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const ATTR_TL_EPOCH = 'tl.lease.epoch';
export const ATTR_TL_PREVIOUS_OWNER = 'tl.lease.previous_owner';
export const ATTR_TL_KIND = 'tl.kind';

export interface OwnershipInstrumentationOptions {
  tracer: Tracer;
  meter: Meter;
  stage: string;
  topic: Topic;
  /** The leases held now, read at each metrics collection. */
  owned: () => readonly Lease[];
  /**
   * Effects refused as stale, read at each collection: `stale_input` (batches of a producer older than one
   * already processed, dropped), `refused` (this instance's own claims and turns refused because a newer
   * epoch owns the partition).
   */
  fenced: () => { staleInput: number; refused: number };
}

export function instrumentOwnership(opts: OwnershipInstrumentationOptions): OwnershipObserver {
  const { tracer, meter, stage, topic } = opts;
  const base: Attributes = { [ATTR_TL_STAGE]: stage };
  const handovers = meter.createCounter('tl.partition.handovers', {
    description: 'Changes of partition ownership seen by this instance (tl.kind: acquired, released, lost)',
  });
  const pause = meter.createHistogram('tl.handover.pause', {
    description:
      'How long a moved partition went unprocessed: from its previous owner stopping to this one taking it',
    unit: 's',
    advice: { explicitBucketBoundaries: PAUSE_BUCKETS_S },
  });
  meter
    .createObservableGauge('tl.partitions.owned', {
      description: 'Partitions this instance holds a lease for',
    })
    .addCallback((result) => result.observe(opts.owned().length, base));
  meter
    .createObservableCounter('tl.fenced', {
      description: 'Effects refused as stale (tl.kind: stale_input dropped, refused own effects)',
    })
    .addCallback((result) => {
      const { staleInput, refused } = opts.fenced();
      result.observe(staleInput, { ...base, [ATTR_TL_KIND]: 'stale_input' });
      result.observe(refused, { ...base, [ATTR_TL_KIND]: 'refused' });
    });

  const span = (name: string, lease: Lease, startMs: number, attributes: Attributes, error?: string) =>
    endSpan(
      tracer.startSpan(`${name} tl.${topic}.${lease.partition}`, {
        kind: SpanKind.INTERNAL,
        startTime: startMs,
        attributes: {
          ...base,
          [ATTR_TL_PARTITION]: lease.partition,
          [ATTR_TL_EPOCH]: lease.epoch,
          ...attributes,
        },
      }),
      { error },
    );

  return {
    acquired(lease, { previousOwner, pauseMs }) {
      handovers.add(1, { ...base, [ATTR_TL_KIND]: 'acquired' });
      if (pauseMs !== null) pause.record(pauseMs / 1000, base);
      span('acquire', lease, Date.now() - (pauseMs ?? 0), { [ATTR_TL_PREVIOUS_OWNER]: previousOwner });
    },
    released(lease, { reason, drainMs }) {
      handovers.add(1, { ...base, [ATTR_TL_KIND]: 'released' });
      span('release', lease, Date.now() - drainMs, { 'tl.lease.reason': reason });
    },
    lost(lease, { why }) {
      handovers.add(1, { ...base, [ATTR_TL_KIND]: 'lost' });
      span('lose', lease, Date.now(), {}, why);
    },
  };
}
