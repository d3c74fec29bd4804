import type { Bus, BusMessage } from '@throughline/bus';
import type { Topic } from '@throughline/contracts';
import { PartitionActor, type Envelope, type PartitionActorOptions } from './actor.js';
import type { TurnContext } from './turn.js';
import type { Supervisor } from './supervisor.js';

export interface PartitionActorsOptions<T> {
  supervisor: Supervisor;
  bus: Bus;
  /** The stage (`enrich`, `state`, `writer`): the actors' name and consumer group. */
  stage: string;
  /** The topic whose stream the actors consume. */
  topic: Topic;
  partitions: readonly number[];
  decode: (msg: BusMessage) => T;
  /** Makes the turn handler of one partition (called again when its actor restarts). */
  handlerFor: (partition: number) => (turn: Envelope<T>[], ctx: TurnContext) => Promise<void>;
  /** Further actor options (turn size, retries, logger, metrics hook). */
  actor?: Partial<
    Omit<PartitionActorOptions<T>, 'name' | 'partition' | 'bus' | 'openMailbox' | 'decode' | 'handle'>
  >;
}

/** Starts one supervised actor per owned partition, each on its own durable consumer of `tl.<stage>.<p>`. */
export function startPartitionActors<T>(opts: PartitionActorsOptions<T>): void {
  for (const partition of opts.partitions) {
    opts.supervisor.start(
      () =>
        new PartitionActor<T>({
          ...opts.actor,
          name: opts.stage,
          partition,
          bus: opts.bus,
          decode: opts.decode,
          handle: opts.handlerFor(partition),
          openMailbox: () => opts.bus.openMailbox({ group: opts.stage, topic: opts.topic, partition }),
        }),
    );
  }
}
