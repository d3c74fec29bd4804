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
    return mailbox;
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
