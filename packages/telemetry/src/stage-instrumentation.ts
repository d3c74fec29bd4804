import type { Meter, Tracer } from '@opentelemetry/api';
import type { Bus } from '@throughline/bus';
import type { Topic } from '@throughline/contracts';
import type { TurnObserver } from '@throughline/runtime';
import { PipelineMetrics } from './metrics.js';
import { ATTR_TL_PARTITION, ATTR_TL_STAGE } from './semconv.js';
import { createTurnObserver } from './turn-observer.js';

export interface StageInstrumentationOptions {
  tracer: Tracer;
  meter: Meter;
  bus: Bus;
  /** The stage (`enrich`, `state`, `writer`): the consumer group. */
  stage: string;
  /** The topic it consumes. */
  topic: Topic;
  /** The partitions this instance processes now, read at each metrics collection. */
  partitions: () => readonly number[];
}

/**
 * Everything a partitioned stage reports: a turn observer (spans and per-turn metrics) and the consumer lag of
 * each owned partition (`tl.consumer.lag`, messages not yet acknowledged), read from the bus at each collection.
 */
export function instrumentStage(opts: StageInstrumentationOptions): {
  observer: TurnObserver;
  metrics: PipelineMetrics;
} {
  const metrics = new PipelineMetrics(opts.meter);
  metrics.declareStage(opts.stage);
  metrics.observe(
    'tl.consumer.lag',
    'Messages of a partition not yet processed (pending + unacknowledged)',
    async () => {
      const readings = await Promise.all(
        opts.partitions().map(async (partition) => {
          const b = await opts.bus
            .backlog({ group: opts.stage, topic: opts.topic, partition })
            .catch(() => undefined);
          return b === undefined
            ? undefined
            : {
                value: b.pending + b.ackPending,
                attributes: { [ATTR_TL_STAGE]: opts.stage, [ATTR_TL_PARTITION]: partition },
              };
        }),
      );
      return readings.filter((r) => r !== undefined);
    },
  );
  return { observer: createTurnObserver({ tracer: opts.tracer, metrics }), metrics };
}
