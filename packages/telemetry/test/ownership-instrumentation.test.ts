import { SpanStatusCode } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { instrumentOwnership } from '../src/index.js';
import { memoryMeter, memoryTracer } from './support.js';

describe('instrumentOwnership', () => {
  it('makes a span of each hand-over and counts hand-overs, pauses, owned partitions and refused effects', async () => {
    const { tracer, spans } = memoryTracer();
    const { meter, collect } = memoryMeter();
    let owned = [{ partition: 3, epoch: 1_000_002 }];
    const observer = instrumentOwnership({
      tracer,
      meter,
      stage: 'state',
      topic: 'enriched',
      owned: () => owned,
      fenced: () => ({ staleInput: 4, refused: 2 }),
    });

    const before = Date.now();
    observer.acquired!({ partition: 3, epoch: 1_000_002 }, { previousOwner: 'state-a', pauseMs: 40 });
    observer.released!({ partition: 5, epoch: 1_000_001 }, { reason: 'handover', drainMs: 12 });
    observer.lost!({ partition: 7, epoch: 999_999 }, { why: 'lease taken over by state-b' });
    owned = [...owned, { partition: 9, epoch: 1_000_003 }];

    const [acquire, release, lose] = spans.getFinishedSpans();
    expect(acquire!.name).toBe('acquire tl.enriched.3');
    expect(acquire!.attributes).toMatchObject({
      'tl.stage': 'state',
      'tl.partition': 3,
      'tl.lease.epoch': 1_000_002,
      'tl.lease.previous_owner': 'state-a',
    });
    // The acquire span covers the pause the partition saw; the release span the drain of the turn in flight.
    const ms = (t: [number, number]) => t[0] * 1000 + t[1] / 1e6;
    expect(ms(acquire!.startTime)).toBeLessThanOrEqual(before - 40 + 5);
    expect(release!.name).toBe('release tl.enriched.5');
    expect(release!.attributes['tl.lease.reason']).toBe('handover');
    expect(lose!.name).toBe('lose tl.enriched.7');
    expect(lose!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'lease taken over by state-b' });

    const byName = await collect();
    const point = (name: string, kind?: string) =>
      byName.get(name)!.find((p) => kind === undefined || p.attributes['tl.kind'] === kind)!.value;
    expect(point('tl.partition.handovers', 'acquired')).toBe(1);
    expect(point('tl.partition.handovers', 'released')).toBe(1);
    expect(point('tl.partition.handovers', 'lost')).toBe(1);
    expect(point('tl.partitions.owned')).toBe(2);
    expect(point('tl.fenced', 'stale_input')).toBe(4);
    expect(point('tl.fenced', 'refused')).toBe(2);
    expect(point('tl.handover.pause')).toMatchObject({ count: 1, sum: 0.04 });
  });
});
