/**
 * The in-memory bus of the embedded mode: the semantics of the JetStream bus (stream sequences, duplicate window,
 * work-queue removal on ack, ack wait and redelivery with back-off, `maxDeliver`, `maxAckPending`, "reopen restarts
 * at the first unacknowledged message", dead letters) in one process, without a server.
 *
 * Published bytes are copied, so callers may reuse their buffers; delivered bytes are shared between deliveries of
 * the same message and must be treated as read-only. Nothing survives the process.
 */
import { TOPICS, subjects, type Topic } from '@throughline/contracts';
import { checkMailboxOptions, checkTopicPartition, parseSubject, type SubjectAddress } from './addressing.js';
import { DEFAULT_DEAD_LETTER_LIMIT, deadLetterEnvelope } from './dead-letter.js';
import { BusError, BusErrorCode, ensureError } from './errors.js';
import { DeadLetterStream } from './memory/dead-letter-stream.js';
import { MemoryLeaseBucket } from './leases/memory-lease-bucket.js';
import { MemoryMailbox, type MemoryBusContext } from './memory/mailbox.js';
import type { StoredRecord } from './memory/partition-log.js';
import { TopicStream } from './memory/topic-stream.js';
import { resolveBusSettings, type ResolvedBusSettings } from './settings.js';
import {
  Headers,
  type Bus,
  type BusMessage,
  type BusSettings,
  type ConsumerBacklog,
  type DeadLetter,
  type DeadLetterPart,
  type LeaseBucket,
  type Logger,
  type Mailbox,
  type MailboxOptions,
  type PublishAck,
  type PublishOptions,
} from './types.js';

export interface MemoryBusOptions extends BusSettings {
  /** The clock of stream timestamps, ack deadlines and the duplicate window, ms since the epoch. Default `Date.now`. */
  now?: () => number;
  /** Receives warnings (messages past `maxDeliver`). Default: none. */
  logger?: Logger;
}

/** Creates an in-memory bus. Call `ensureTopology()` before publishing, as with JetStream. */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus {
  return new MemoryBus(resolveBusSettings(options), options.now ?? Date.now, options.logger);
}

class MemoryBus implements Bus, MemoryBusContext {
  closed = false;
  private readonly topics = new Map<Topic, TopicStream>();
  private deadLetters: DeadLetterStream | undefined;
  private readonly mailboxes = new Set<MemoryMailbox>();
  private readonly addresses = new Map<string, SubjectAddress | undefined>();
  private readonly leaseBucket: MemoryLeaseBucket;
  private readonly clientBucket: MemoryLeaseBucket;

  constructor(
    private readonly settings: ResolvedBusSettings,
    readonly now: () => number,
    private readonly logger: Logger | undefined,
  ) {
    this.leaseBucket = new MemoryLeaseBucket(settings.leaseTtlMs, now);
    this.clientBucket = new MemoryLeaseBucket(0, now);
  }

  leases(): Promise<LeaseBucket> {
    return Promise.resolve(this.leaseBucket);
  }

  clients(): Promise<LeaseBucket> {
    return Promise.resolve(this.clientBucket);
  }

  ensureTopology(): Promise<void> {
    this.checkOpen();
    for (const topic of TOPICS) {
      if (!this.topics.has(topic))
        this.topics.set(topic, new TopicStream(topic, this.settings, this.onExhausted));
    }
    this.deadLetters ??= new DeadLetterStream(this.settings.duplicateWindowMs);
    return Promise.resolve();
  }

  publish(subject: string, data: Uint8Array, opts: PublishOptions): Promise<PublishAck> {
    try {
      return Promise.resolve(this.store(subject, data, opts));
    } catch (err) {
      return Promise.reject(ensureError(err));
    }
  }

  openMailbox(opts: MailboxOptions): Promise<Mailbox> {
    try {
      this.checkOpen();
      checkMailboxOptions(opts);
      const log = this.topicStream(opts.topic).partition(opts.partition);
      const owner = log.consumerGroup;
      if (owner !== undefined && owner !== opts.group) {
        throw new BusError(
          BusErrorCode.consumerConflict,
          `partition ${subjects.of(opts.topic, opts.partition)} is already consumed by group '${owner}'`,
        );
      }
      const mailbox = new MemoryMailbox(log, this);
      const attached = log.attach(opts.group, opts.epoch ?? 0, mailbox);
      if (attached === 'fenced') throw fencedMailbox(opts, log.currentConsumer?.epoch ?? 0);
      this.mailboxes.add(mailbox);
      if (attached) this.logger?.info('mailbox restarts at the first unacknowledged message', { ...opts });
      return Promise.resolve(mailbox);
    } catch (err) {
      return Promise.reject(ensureError(err));
    }
  }

  async deadLetter(msg: BusMessage, reason: string, part?: DeadLetterPart): Promise<void> {
    const envelope = deadLetterEnvelope(msg, subjects.stream(msg.topic), reason, part);
    await this.publish(envelope.subject, part?.data ?? msg.data, {
      msgId: envelope.msgId,
      headers: Object.fromEntries(envelope.headers),
    });
    if (part === undefined) await msg.ack();
  }

  readDeadLetters(opts: { topic?: Topic; limit?: number } = {}): Promise<DeadLetter[]> {
    if (this.deadLetters === undefined) return Promise.resolve([]);
    return Promise.resolve(
      this.deadLetters.read(opts.topic, opts.limit ?? DEFAULT_DEAD_LETTER_LIMIT, this.now()),
    );
  }

  removeDeadLetter(seq: number): Promise<boolean> {
    return Promise.resolve(this.deadLetters?.remove(seq) ?? false);
  }

  topicBacklog(topic: Topic): Promise<number> {
    return Promise.resolve(this.topics.get(topic)?.unacknowledged() ?? 0);
  }

  backlog(opts: MailboxOptions): Promise<ConsumerBacklog> {
    try {
      checkMailboxOptions(opts);
      const log = this.topics.get(opts.topic)?.existingPartition(opts.partition);
      return Promise.resolve(log === undefined ? { pending: 0, ackPending: 0 } : log.backlog(this.now()));
    } catch (err) {
      return Promise.reject(ensureError(err));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.mailboxes].map((mailbox) => mailbox.close()));
    this.closed = true;
  }

  forget(mailbox: MemoryMailbox): void {
    this.mailboxes.delete(mailbox);
  }

  private store(subject: string, data: Uint8Array, opts: PublishOptions): PublishAck {
    this.checkOpen();
    if (typeof opts.msgId !== 'string' || opts.msgId.length === 0) {
      throw new BusError(BusErrorCode.invalidArgument, 'publish needs a non-empty msgId');
    }
    const address = this.address(subject);
    if (address === undefined) throw noStream(subject);
    const headers = new Map<string, string>();
    let size = data.byteLength;
    for (const [name, value] of Object.entries(opts.headers ?? {})) {
      headers.set(name, value);
      size += name.length + value.length + 4;
    }
    headers.set(Headers.msgId, opts.msgId);
    const nowMs = this.now();
    if (address.kind === 'deadLetter') {
      if (this.deadLetters === undefined) throw noStream(subject);
      return this.deadLetters.store(subject, address.topic, data.slice(), headers, opts.msgId, nowMs);
    }
    const stream = this.topics.get(address.topic);
    if (stream === undefined) throw noStream(subject);
    if (size > this.settings.maxMessageBytes) {
      throw new BusError(
        BusErrorCode.messageTooLarge,
        `message of ${size} bytes exceeds maxMessageBytes ${this.settings.maxMessageBytes}`,
      );
    }
    return stream.store(subject, address.partition, data.slice(), headers, opts.msgId, nowMs);
  }

  /** Parsed subjects, cached: a deployment has a few subjects per topic, published to millions of times. */
  private address(subject: string): SubjectAddress | undefined {
    let address = this.addresses.get(subject);
    if (address === undefined && !this.addresses.has(subject)) {
      address = parseSubject(subject);
      if (this.addresses.size < MAX_CACHED_SUBJECTS) this.addresses.set(subject, address);
    }
    return address;
  }

  private topicStream(topic: Topic): TopicStream {
    checkTopicPartition(topic, 0);
    const stream = this.topics.get(topic);
    if (stream === undefined) {
      throw new BusError(
        BusErrorCode.noStream,
        `stream ${subjects.stream(topic)} does not exist; call ensureTopology()`,
      );
    }
    return stream;
  }

  private checkOpen(): void {
    if (this.closed) throw new BusError(BusErrorCode.closed, 'the bus is closed');
  }

  private readonly onExhausted = (record: StoredRecord): void => {
    this.logger?.warn('message reached maxDeliver and is no longer redelivered', {
      subject: record.subject,
      seq: record.seq,
      deliveries: record.deliveryCount,
    });
  };
}

const MAX_CACHED_SUBJECTS = 10_000;

function fencedMailbox(opts: MailboxOptions, current: number): BusError {
  return new BusError(
    BusErrorCode.fenced,
    `${subjects.of(opts.topic, opts.partition)} is consumed under lease epoch ${current}, newer than ${opts.epoch ?? 0}`,
    { currentEpoch: current },
  );
}

function noStream(subject: string): BusError {
  return new BusError(BusErrorCode.noStream, `no stream stores subject '${subject}'; call ensureTopology()`);
}
