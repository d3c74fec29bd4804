/**
 * The JetStream mailbox of one partition: a long-lived pull `consume()` on the partition's durable consumer
 * feeding an in-order buffer. nats-server stops delivering at `max_ack_pending`, so the buffer never holds more
 * than that many messages.
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type { Topic } from '@throughline/contracts';
import { BusError, BusErrorCode, ensureError } from '../errors.js';
import { Fifo } from '../fifo.js';
import { checkNextOptions } from '../next-options.js';
import type { BusMessage, Logger, Mailbox } from '../types.js';
import { JetStreamMessage } from './message.js';

interface Waiter {
  readonly maxMessages: number;
  readonly resolve: (batch: BusMessage[]) => void;
  readonly reject: (err: BusError) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface JetStreamMailboxOptions {
  topic: Topic;
  partition: number;
  /** Messages asked for in each pull request: the consumer's `maxAckPending`. */
  pullBatch: number;
  logger?: Logger;
  /** Called once when the mailbox closes. */
  onClose(mailbox: JetStreamMailbox): void;
  /**
   * How many messages of the partition the stream stores while the consumer holds none unacknowledged: 0 for a
   * sound consumer once it delivered them. nats-server 2.9.10 was seen to leave a consumer so after a node of a
   * cluster restarted (the messages stay stored, and nothing delivers them), reporting them pending or not.
   */
  lostMessages?: () => Promise<number>;
  /** Deletes the consumer, so that the owner's next open creates it again at the first stored message. */
  dropConsumer?: () => Promise<void>;
  /** How often a mailbox that received nothing since the last check asks `lostMessages`. Default 10 s. */
  checkIntervalMs?: number;
}

/**
 * How long a pull request lives at the server. The server sends a heartbeat every half of it while a request waits;
 * two missed in a row make the client ask for the consumer and pull again. A pull request can be lost when the
 * consumer's leader changes, so this bounds how long a partition waits for nothing: 5 s rather than the client's
 * 30 s (one small request per idle partition every 5 s).
 */
const PULL_EXPIRES_MS = 5_000;
/** Consumer notifications worth a warning; the rest are routine (heartbeats, pull requests). */
const WARN_ON: ReadonlySet<string> = new Set([
  'heartbeats_missed',
  'consumer_not_found',
  'stream_not_found',
  'consumer_deleted',
  'exceeded_limits',
  'no_responders',
]);

export class JetStreamMailbox implements Mailbox {
  private readonly buffer = new Fifo<JetStreamMessage>();
  private readonly waiters: Waiter[] = [];
  private messages: ConsumerMessages | undefined;
  private isClosed = false;

  get closed(): boolean {
    return this.isClosed;
  }
  private failure: BusError | undefined;
  /** Whether a message arrived since the last check of the consumer. */
  private delivered = false;
  /** Checks in a row that found the consumer short of the messages the stream stores. */
  private suspicions = 0;
  private checking = false;
  private checkTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly opts: JetStreamMailboxOptions) {}

  /** Starts pulling from `consumer`. */
  static async start(consumer: Consumer, opts: JetStreamMailboxOptions): Promise<JetStreamMailbox> {
    const mailbox = new JetStreamMailbox(opts);
    const messages = await consumer.consume({
      max_messages: opts.pullBatch,
      expires: PULL_EXPIRES_MS,
      // A consumer or stream that disappears (taken over, or the server lost its store) ends the mailbox, so its
      // owner opens it again (and the bus creates what is missing) instead of waiting for it forever.
      abort_on_missing_resource: true,
      callback: (msg) => mailbox.onMessage(msg),
    });
    mailbox.messages = messages;
    mailbox.watch(messages);
    if (opts.lostMessages !== undefined) {
      mailbox.checkTimer = setInterval(() => void mailbox.checkConsumer(), opts.checkIntervalMs ?? 10_000);
      mailbox.checkTimer.unref();
    }
    return mailbox;
  }

  /**
   * An idle mailbox asks whether its consumer lost track of stored messages. Twice in a row (a message published
   * between the two looks of one check is delivered before the next), it deletes the consumer and fails, so its
   * owner opens it again on a new consumer that starts at the first stored message.
   */
  private async checkConsumer(): Promise<void> {
    if (this.isClosed || this.failure !== undefined || this.checking) return;
    if (this.delivered) {
      this.delivered = false;
      this.suspicions = 0;
      return;
    }
    this.checking = true;
    try {
      const stored = await this.opts.lostMessages!();
      if (this.delivered || stored === 0) {
        this.suspicions = 0;
        return;
      }
      if (++this.suspicions < 2) return;
      this.opts.logger?.warn(
        'mailbox consumer delivers nothing while the stream stores messages of its partition; creating it again',
        this.logFields({ stored }),
      );
      // Failed first: the consumer's deletion then ends the pull loop without a failure of its own.
      this.fail(new Error(`its consumer lost track of ${stored} stored messages`));
      await this.opts
        .dropConsumer?.()
        .catch((err: unknown) =>
          this.opts.logger?.warn('mailbox could not delete its consumer', this.logFields(ensureError(err))),
        );
    } catch {
      // The server did not answer: nothing to conclude; the next check asks again.
      this.suspicions = 0;
    } finally {
      this.checking = false;
    }
  }

  next(opts: { maxMessages: number; maxWaitMs: number }): Promise<BusMessage[]> {
    checkNextOptions(opts);
    if (this.isClosed) return Promise.resolve([]);
    if (this.waiters.length === 0 && this.buffer.length > 0)
      return Promise.resolve(this.buffer.take(opts.maxMessages));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (opts.maxWaitMs <= 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { maxMessages: opts.maxMessages, resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => this.expire(waiter), opts.maxWaitMs);
      this.waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.checkTimer);
    this.opts.onClose(this);
    // Fetched but unacknowledged messages are redelivered to the next owner.
    this.buffer.clear();
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve([]);
    }
    const result = await this.messages?.close();
    if (result instanceof Error)
      this.opts.logger?.warn('mailbox closed with an error', this.logFields(result));
  }

  private onMessage(msg: JsMsg): void {
    if (this.isClosed) return;
    this.delivered = true;
    this.buffer.push(new JetStreamMessage(msg, this.opts.topic, this.opts.partition));
    while (this.waiters.length > 0 && this.buffer.length > 0) {
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(this.buffer.take(waiter.maxMessages));
    }
  }

  private expire(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    waiter.resolve([]);
  }

  private watch(messages: ConsumerMessages): void {
    void (async () => {
      for await (const status of messages.status()) {
        if (WARN_ON.has(status.type))
          this.opts.logger?.warn('mailbox consumer status', this.logFields(status));
      }
    })().catch((err: unknown) =>
      this.opts.logger?.warn('mailbox status watch ended', this.logFields(ensureError(err))),
    );
    void messages.closed().then(
      (result) => this.fail(result instanceof Error ? result : undefined),
      (err: unknown) => this.fail(ensureError(err)),
    );
  }

  /** The pull loop ended on its own: fail pending and later `next()` calls (after the buffer drains). */
  private fail(err: Error | undefined): void {
    if (this.isClosed || this.failure !== undefined) return;
    clearInterval(this.checkTimer);
    const cause = err ?? new Error('consumer stopped');
    this.failure = new BusError(
      BusErrorCode.mailboxFailed,
      `mailbox ${this.opts.topic}/${this.opts.partition} stopped: ${cause.message}`,
      { cause },
    );
    this.opts.logger?.error('mailbox stopped', this.logFields(cause));
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.failure);
    }
  }

  private logFields(detail: object): Record<string, unknown> {
    const fields: Record<string, unknown> = { topic: this.opts.topic, partition: this.opts.partition };
    if (detail instanceof Error) fields.error = detail.message;
    else Object.assign(fields, detail);
    return fields;
  }
}
