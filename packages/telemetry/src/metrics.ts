import type { Attributes, Meter } from '@opentelemetry/api';
import type { TurnStats } from '@throughline/runtime';
import { ATTR_TL_DEPENDENCY, ATTR_TL_STAGE } from './semconv.js';

/** Boundaries (seconds) for the time histograms: 0.1 ms to 10 s. */
const TIME_BUCKETS_S = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
const SIZE_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000];

/**
 * The metrics of every stage, per turn: events and batches processed, batch sizes, and the time split (queue
 * wait, each dependency, compute) as histograms, plus external calls and batches in flight.
 */
export class PipelineMetrics {
  private readonly events;
  private readonly batches;
  private readonly batchSize;
  private readonly turnDuration;
  private readonly queueWait;
  private readonly dependencyWait;
  private readonly compute;
  private readonly externalCalls;
  private readonly inFlight;
  private readonly deadLettered;

  constructor(readonly meter: Meter) {
    this.events = meter.createCounter('tl.events.processed', { description: 'Events processed by a stage' });
    this.batches = meter.createCounter('tl.batches.processed', {
      description: 'Turns (batches of messages) processed',
    });
    this.batchSize = meter.createHistogram('tl.batch.size', {
      description: 'Events per turn',
      unit: '{event}',
      advice: { explicitBucketBoundaries: SIZE_BUCKETS },
    });
    const time = (name: string, description: string) =>
      meter.createHistogram(name, {
        description,
        unit: 's',
        advice: { explicitBucketBoundaries: TIME_BUCKETS_S },
      });
    this.turnDuration = time('tl.turn.duration', 'Wall time of a turn, from pick-up to ack');
    this.queueWait = time(
      'tl.time.queue_wait',
      'From publication of the oldest message of a turn to its pick-up',
    );
    this.dependencyWait = time(
      'tl.time.dependency_wait',
      'Time a turn waited on one dependency (tl.dependency)',
    );
    this.compute = time('tl.time.compute', "Time a turn spent in throughline's own code");
    this.externalCalls = meter.createCounter('tl.external_calls', {
      description: 'Round trips to external systems',
    });
    this.inFlight = meter.createUpDownCounter('tl.batches.in_flight', {
      description: 'Turns being processed now',
    });
    this.deadLettered = meter.createCounter('tl.dead_lettered', {
      description: 'Messages moved to the dead-letter stream',
    });
  }

  /**
   * Makes the stage's counters exist at 0 from the start: Prometheus' `increase` sees no rise in a series whose
   * first sample is already 1, so an alert on the first dead letter would never fire.
   */
  declareStage(stage: string): void {
    const attrs: Attributes = { [ATTR_TL_STAGE]: stage };
    this.events.add(0, attrs);
    this.batches.add(0, attrs);
    this.externalCalls.add(0, attrs);
    this.deadLettered.add(0, attrs);
  }

  turnStarted(stage: string): void {
    this.inFlight.add(1, { [ATTR_TL_STAGE]: stage });
  }

  turnEnded(stats: TurnStats): void {
    const attrs: Attributes = { [ATTR_TL_STAGE]: stats.stage };
    this.inFlight.add(-1, attrs);
    this.batches.add(1, attrs);
    this.events.add(stats.events, attrs);
    this.batchSize.record(stats.events, attrs);
    this.turnDuration.record(stats.durationMs / 1000, attrs);
    this.queueWait.record(stats.queueWaitMs / 1000, attrs);
    this.compute.record(stats.computeMs / 1000, attrs);
    for (const [dependency, ms] of Object.entries(stats.dependencyMs)) {
      this.dependencyWait.record(ms / 1000, { ...attrs, [ATTR_TL_DEPENDENCY]: dependency });
    }
    this.externalCalls.add(stats.externalCalls, attrs);
    if (stats.deadLettered > 0) this.deadLettered.add(stats.deadLettered, attrs);
  }

  /**
   * Reports counts kept by the code as one counter read at each collection, a series per key of what `read`
   * returns under `attribute`: `countBy('tl.state.events', …, 'tl.outcome', () => ({ applied, rejected }))`.
   */
  countBy(name: string, description: string, attribute: string, read: () => Record<string, number>): void {
    this.meter.createObservableCounter(name, { description }).addCallback((result) => {
      for (const [key, count] of Object.entries(read())) result.observe(count, { [attribute]: key });
    });
  }

  /** Reports a gauge from a callback (consumer lag per partition, cache hit ratio), read at each collection. */
  observe(
    name: string,
    description: string,
    read: () => Promise<{ value: number; attributes?: Attributes }[]>,
  ): void {
    const gauge = this.meter.createObservableGauge(name, { description });
    gauge.addCallback(async (result) => {
      for (const { value, attributes } of await read()) result.observe(value, attributes);
    });
  }
}
