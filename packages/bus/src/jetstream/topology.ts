/**
 * Streams and durable consumers of the JetStream bus, created or brought up to date idempotently.
 *
 * nats-server 2.9 accepts one `filter_subject` per consumer and one consumer a subject on a work-queue stream;
 * nothing here uses a newer feature.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { TOPICS, subjects, type Topic } from '@throughline/contracts';
import { consumerEpoch } from '../addressing.js';
import { DEAD_LETTER_MAX_AGE_MS } from '../dead-letter.js';
import { BusError, BusErrorCode } from '../errors.js';
import type { ResolvedBusSettings } from '../settings.js';
import type { Logger, MailboxOptions } from '../types.js';
import {
  addConsumerClearingGhosts,
  DeletedConsumers,
  describeReplaced,
  replacedNames,
} from './ghost-consumers.js';
import { isConsumerNotFound, isStreamNotFound, toBusError } from './nats-errors.js';

type DesiredStream = Pick<
  StreamConfig,
  | 'name'
  | 'subjects'
  | 'retention'
  | 'storage'
  | 'duplicate_window'
  | 'max_msg_size'
  | 'max_age'
  | 'num_replicas'
>;

export function topicStreamConfig(topic: Topic, settings: ResolvedBusSettings): DesiredStream {
  return {
    name: subjects.stream(topic),
    subjects: [subjects.wildcard(topic)],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(settings.duplicateWindowMs),
    max_msg_size: settings.maxMessageBytes,
    max_age: 0,
    num_replicas: settings.streamReplicas,
  };
}

export function deadLetterStreamConfig(settings: ResolvedBusSettings): DesiredStream {
  return {
    name: subjects.deadLetterStream,
    subjects: ['tl.dead.>'],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    // A dead letter carries the original message plus a few headers.
    duplicate_window: nanos(Math.min(settings.duplicateWindowMs, DEAD_LETTER_MAX_AGE_MS)),
    max_msg_size: -1,
    max_age: nanos(DEAD_LETTER_MAX_AGE_MS),
    num_replicas: settings.streamReplicas,
  };
}

/**
 * The first sequence of a topic stream created at `createdMs` (the server's clock): the time in 1/20,000 s.
 * Positions are the ingested sequence shifted by 16 bits and every stage remembers the last input sequence it
 * consumed, so a stream created again after its store was lost must go on above every sequence of the one before:
 * it does unless that one averaged over 20,000 messages a second over its whole life (ingest batches a partition's
 * events for a few milliseconds, so a partition writes at most a few hundred a second). Positions are int64, so the
 * sequence must stay under 2^47: that is the year 2192.
 */
export function sequenceFloor(createdMs: number): number {
  return Math.floor(createdMs * 20);
}

/** Creates every topic stream and the dead-letter stream, or updates them to `settings`. */
export async function ensureStreams(
  jsm: JetStreamManager,
  settings: ResolvedBusSettings,
  logger?: Logger,
): Promise<void> {
  const desired = [
    ...TOPICS.map((topic) => topicStreamConfig(topic, settings)),
    deadLetterStreamConfig(settings),
  ];
  for (const config of desired)
    await ensureStream(jsm, config, config.name !== subjects.deadLetterStream, logger);
}

/** Error code of a stream created again under a name already in use with another configuration. */
const STREAM_NAME_IN_USE = 10058;

/**
 * The only subject of a topic stream between its creation and its first sequence: nobody publishes to it, so no
 * message can be stored below the floor and then removed by the purge that sets the floor. The stream takes its
 * real subjects only once it starts at its floor. The subject carries the floor its creator chose, so every service
 * that finishes the creation purges to that same floor: a late purge removes nothing a publisher stored since.
 * (The stream's `created` time would not do: on a cluster each server reports the time its own copy was created,
 * and purges to floors 700 apart were seen.)
 */
export function creationSubject(stream: string, floor: number): string {
  return `tl.creating.${stream}.${floor}`;
}

/** The floor a stream under its creation subject is to start at; undefined for a stream with its real subjects. */
function creationFloor(config: StreamConfig): number | undefined {
  const prefix = `tl.creating.${config.name}.`;
  const [only, ...more] = config.subjects;
  if (only === undefined || more.length > 0 || !only.startsWith(prefix)) return undefined;
  const floor = Number(only.slice(prefix.length));
  return Number.isSafeInteger(floor) && floor > 0 ? floor : undefined;
}

async function ensureStream(
  jsm: JetStreamManager,
  desired: DesiredStream,
  sequenced: boolean,
  logger?: Logger,
  attempt = 1,
): Promise<void> {
  let current: StreamConfig;
  try {
    const info = await jsm.streams.info(desired.name);
    current = info.config;
    if (sequenced) {
      warnIfAheadOfClock(info, logger);
      // Created, not yet moved to its floor (its creator failed or is at it): finish the creation.
      if (creationFloor(current) !== undefined) await startAtFloor(jsm, info, logger);
    }
  } catch (err) {
    if (err instanceof BusError) throw err;
    if (!isStreamNotFound(err))
      throw toBusError(err, BusErrorCode.requestFailed, `stream info ${desired.name}`);
    try {
      const initial = sequenced
        ? { ...desired, subjects: [creationSubject(desired.name, sequenceFloor(Date.now()))] }
        : desired;
      const info = await jsm.streams.add(initial);
      logger?.info('stream created', { stream: desired.name });
      if (!sequenced) return;
      await startAtFloor(jsm, info, logger);
      current = info.config;
    } catch (addErr) {
      // Another service created it meanwhile (and may have given it its subjects already): start over from it.
      if (addErr instanceof JetStreamApiError && addErr.code === STREAM_NAME_IN_USE && attempt < 3)
        return ensureStream(jsm, desired, sequenced, logger, attempt + 1);
      throw toBusError(addErr, BusErrorCode.requestFailed, `create stream ${desired.name}`);
    }
  }
  if (current.retention !== desired.retention || current.storage !== desired.storage) {
    throw new BusError(
      BusErrorCode.topologyConflict,
      `stream ${desired.name} exists with retention ${current.retention}/storage ${current.storage}; ` +
        `expected ${desired.retention}/${desired.storage}, which cannot be changed in place`,
    );
  }
  const differs =
    current.subjects.join(',') !== desired.subjects.join(',') ||
    current.duplicate_window !== desired.duplicate_window ||
    current.max_msg_size !== desired.max_msg_size ||
    current.max_age !== desired.max_age ||
    (current.num_replicas || 1) !== desired.num_replicas;
  if (!differs) return;
  const { name, retention: _retention, storage: _storage, ...update } = desired;
  try {
    await jsm.streams.update(name, update);
    // Giving a stream just created its subjects is part of its creation, not an update.
    if (creationFloor(current) === undefined)
      logger?.info('stream updated', { stream: name, replicas: desired.num_replicas });
  } catch (err) {
    throw toBusError(err, BusErrorCode.requestFailed, `update stream ${name}`);
  }
}

function warnIfAheadOfClock(info: StreamInfo, logger?: Logger): void {
  if (info.state.last_seq > sequenceFloor(Date.now()))
    logger?.warn(
      'stream sequence ahead of the clock: if its store is lost, positions of the stream created again could repeat',
      {
        stream: info.config.name,
        lastSeq: info.state.last_seq,
      },
    );
}

/**
 * Moves a stream just created — still under its creation subject, so it holds no message — to the first sequence
 * its creation subject names. Only such a stream is ever purged: one with its real subjects may be taking messages,
 * whatever its state seemed to say a moment ago.
 */
async function startAtFloor(jsm: JetStreamManager, info: StreamInfo, logger?: Logger): Promise<void> {
  const floor = creationFloor(info.config);
  if (floor === undefined || info.state.first_seq >= floor) return;
  try {
    await jsm.streams.purge(info.config.name, { seq: floor });
  } catch (err) {
    throw toBusError(err, BusErrorCode.requestFailed, `start stream ${info.config.name} at ${floor}`);
  }
  logger?.info('stream starts at its sequence floor', { stream: info.config.name, firstSeq: floor });
}

export function mailboxConsumerConfig(
  name: string,
  topic: Topic,
  partition: number,
  settings: ResolvedBusSettings,
): Partial<ConsumerConfig> {
  const config: Partial<ConsumerConfig> = {
    durable_name: name,
    filter_subject: subjects.of(topic, partition),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: nanos(settings.ackWaitMs),
    max_deliver: settings.maxDeliver,
    max_ack_pending: settings.maxAckPending,
  };
  if (settings.redeliveryBackoffMs.length > 0)
    config.backoff = settings.redeliveryBackoffMs.map((ms) => nanos(ms));
  return config;
}

/**
 * Makes the durable consumer of a mailbox exist with `desired` settings. If it exists with unacknowledged
 * deliveries (its previous owner died mid-batch), it is deleted and recreated: on a work-queue stream acknowledged
 * messages are gone, so `DeliverAll` restarts at the first unacknowledged one and per-partition order holds.
 * @returns whether an existing consumer was recreated.
 */
export async function ensureMailboxConsumer(
  jsm: JetStreamManager,
  stream: string,
  desired: Partial<ConsumerConfig>,
  deleted: DeletedConsumers = new DeletedConsumers(),
  onGhostsCleared: (names: string[]) => void = () => undefined,
): Promise<boolean> {
  const name = desired.durable_name ?? '';
  const subject = desired.filter_subject ?? '';
  // The consumer names the consumers deleted before it, for whoever takes the partition over next.
  const add = async (): Promise<void> => {
    const known = deleted.of(stream, subject);
    const description = describeReplaced(known);
    const config = description === undefined ? desired : { ...desired, description };
    const cleared = await addConsumerClearingGhosts(jsm, stream, config, known);
    if (cleared.length > 0) onGhostsCleared(cleared);
  };
  let current: ConsumerInfo | undefined;
  try {
    current = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (!isConsumerNotFound(err))
      throw toBusError(err, BusErrorCode.requestFailed, `consumer info ${stream}/${name}`);
  }
  try {
    if (current === undefined) {
      await add();
      return false;
    }
    deleted.remember(stream, subject, replacedNames(current.config.description));
    if (current.num_ack_pending > 0 || !sameFixedConfig(current.config, desired)) {
      await jsm.consumers.delete(stream, name);
      await add();
      return true;
    }
    if (!sameUpdatableConfig(current.config, desired)) {
      await jsm.consumers.update(stream, name, {
        ack_wait: desired.ack_wait,
        max_deliver: desired.max_deliver,
        max_ack_pending: desired.max_ack_pending,
        backoff: desired.backoff ?? [],
      });
    }
    return false;
  } catch (err) {
    throw toBusError(err, BusErrorCode.requestFailed, `create consumer ${stream}/${name}`);
  }
}

/** Settings nats-server cannot update in place. */
function sameFixedConfig(current: ConsumerConfig, desired: Partial<ConsumerConfig>): boolean {
  return (
    current.filter_subject === desired.filter_subject &&
    current.ack_policy === desired.ack_policy &&
    current.deliver_policy === desired.deliver_policy &&
    current.deliver_subject === undefined
  );
}

function sameUpdatableConfig(current: ConsumerConfig, desired: Partial<ConsumerConfig>): boolean {
  return (
    current.ack_wait === desired.ack_wait &&
    current.max_deliver === desired.max_deliver &&
    current.max_ack_pending === desired.max_ack_pending &&
    (current.backoff ?? []).join(',') === (desired.backoff ?? []).join(',')
  );
}

/**
 * Makes way for the consumer `name` of a mailbox opened under a lease epoch: deletes the group's consumers of the
 * same partition opened under older epochs (their owners' acks then reach nothing, and what they left
 * unacknowledged is delivered again), and refuses with `BUS_FENCED` when one of a newer epoch exists.
 *
 * Why a name per epoch rather than recreating one durable name: nats-server applies an ack to whatever consumer
 * bears the name in the ack's reply subject. Measured on 2.9.10: after `c` was deleted and created again, an ack
 * sent by the old owner for stream sequence 1 removed that message from the work queue while the new owner held
 * it — had the new owner then died, the message would have been lost.
 * @returns how many consumers were removed.
 */
export async function takeOverPartition(
  jsm: JetStreamManager,
  stream: string,
  opts: MailboxOptions,
  name: string,
  deleted: DeletedConsumers = new DeletedConsumers(),
): Promise<number> {
  const subject = subjects.of(opts.topic, opts.partition);
  const mine = opts.epoch ?? 0;
  const older: string[] = [];
  try {
    for await (const info of jsm.consumers.list(stream)) {
      if (info.config.filter_subject !== subject || info.name === name) continue;
      const epoch = consumerEpoch(info.name, opts);
      if (epoch === undefined) continue;
      // What it replaced may survive on a server that was down at the time: remembered, to be cleared if so.
      deleted.remember(stream, subject, replacedNames(info.config.description));
      if (epoch > mine)
        throw new BusError(
          BusErrorCode.fenced,
          `${subject} is consumed under lease epoch ${epoch}, newer than ${mine}`,
          { currentEpoch: epoch },
        );
      older.push(info.name);
    }
    for (const old of older) {
      deleted.remember(stream, subject, [old]);
      await jsm.consumers.delete(stream, old).catch((err: unknown) => {
        if (!isConsumerNotFound(err)) throw err;
      });
    }
  } catch (err) {
    throw toBusError(err, BusErrorCode.requestFailed, `take over ${subject}`);
  }
  return older.length;
}

/** The consumer of the group currently on a partition (any epoch), if any. */
export async function currentConsumer(
  jsm: JetStreamManager,
  stream: string,
  opts: MailboxOptions,
): Promise<ConsumerInfo | undefined> {
  const subject = subjects.of(opts.topic, opts.partition);
  let found: ConsumerInfo | undefined;
  for await (const info of jsm.consumers.list(stream)) {
    if (info.config.filter_subject !== subject || consumerEpoch(info.name, opts) === undefined) continue;
    if (found === undefined || consumerEpoch(info.name, opts)! > consumerEpoch(found.name, opts)!)
      found = info;
  }
  return found;
}
