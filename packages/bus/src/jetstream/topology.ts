/**
 * Streams and durable consumers of the JetStream bus, created or brought up to date idempotently.
 *
 * nats-server 2.9 accepts one `filter_subject` per consumer and one consumer a subject on a work-queue stream;
 * nothing here uses a newer feature.
 */
import {
  AckPolicy,
  DeliverPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { TOPICS, subjects, type Topic } from '@throughline/contracts';
import { consumerEpoch } from '../addressing.js';
import { DEAD_LETTER_MAX_AGE_MS } from '../dead-letter.js';
import { BusError, BusErrorCode } from '../errors.js';
import type { ResolvedBusSettings } from '../settings.js';
import type { Logger, MailboxOptions } from '../types.js';
import { isConsumerNotFound, isStreamNotFound, toBusError } from './nats-errors.js';

type DesiredStream = Pick<
  StreamConfig,
  'name' | 'subjects' | 'retention' | 'storage' | 'duplicate_window' | 'max_msg_size' | 'max_age'
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
  };
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
  for (const config of desired) await ensureStream(jsm, config, logger);
}

async function ensureStream(jsm: JetStreamManager, desired: DesiredStream, logger?: Logger): Promise<void> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(desired.name)).config;
  } catch (err) {
    if (!isStreamNotFound(err))
      throw toBusError(err, BusErrorCode.requestFailed, `stream info ${desired.name}`);
    try {
      await jsm.streams.add(desired);
      logger?.info('stream created', { stream: desired.name });
      return;
    } catch (addErr) {
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
    current.max_age !== desired.max_age;
  if (!differs) return;
  const { name, retention: _retention, storage: _storage, ...update } = desired;
  try {
    await jsm.streams.update(name, update);
    logger?.info('stream updated', { stream: name });
  } catch (err) {
    throw toBusError(err, BusErrorCode.requestFailed, `update stream ${name}`);
  }
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
): Promise<boolean> {
  const name = desired.durable_name ?? '';
  let current: ConsumerInfo | undefined;
  try {
    current = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (!isConsumerNotFound(err))
      throw toBusError(err, BusErrorCode.requestFailed, `consumer info ${stream}/${name}`);
  }
  try {
    if (current === undefined) {
      await jsm.consumers.add(stream, desired);
      return false;
    }
    if (current.num_ack_pending > 0 || !sameFixedConfig(current.config, desired)) {
      await jsm.consumers.delete(stream, name);
      await jsm.consumers.add(stream, desired);
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
): Promise<number> {
  const subject = subjects.of(opts.topic, opts.partition);
  const mine = opts.epoch ?? 0;
  const older: string[] = [];
  try {
    for await (const info of jsm.consumers.list(stream)) {
      if (info.config.filter_subject !== subject || info.name === name) continue;
      const epoch = consumerEpoch(info.name, opts);
      if (epoch === undefined) continue;
      if (epoch > mine)
        throw new BusError(
          BusErrorCode.fenced,
          `${subject} is consumed under lease epoch ${epoch}, newer than ${mine}`,
          { currentEpoch: epoch },
        );
      older.push(info.name);
    }
    for (const old of older) {
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
