/** The in-memory mailbox of one partition: hands out deliveries of its partition log, waking on publish. */
import type { Topic } from '@throughline/contracts';
import { BusError, BusErrorCode } from '../errors.js';
import { checkNextOptions } from '../next-options.js';
import type { BusMessage, Mailbox } from '../types.js';
import type { ConsumerState, PartitionListener, PartitionLog, StoredRecord } from './partition-log.js';

/** What mailboxes and messages need from their bus. */
export interface MemoryBusContext {
  now(): number;
  readonly closed: boolean;
  forget(mailbox: MemoryMailbox): void;
}

/** One delivery of a stored record. */
class MemoryMessage implements BusMessage {
  readonly deliveryCount: number;

  constructor(
    private readonly record: StoredRecord,
    private readonly log: PartitionLog,
    private readonly bus: MemoryBusContext,
    /** The consumer this delivery was made for. */
    private readonly consumer: ConsumerState | undefined,
  ) {
    this.deliveryCount = record.deliveryCount;
  }

  get subject(): string {
    return this.record.subject;
  }
  get topic(): Topic {
    return this.record.topic;
  }
  get partition(): number {
    return this.record.partition;
  }
  /** The stored bytes, shared by every delivery: treat as read-only. */
  get data(): Uint8Array {
    return this.record.data;
  }
  get headers(): ReadonlyMap<string, string> {
    return this.record.headers;
  }
  get seq(): number {
    return this.record.seq;
  }
  get publishedAtMs(): number {
    return this.record.publishedAtMs;
  }

  ack(): Promise<void> {
    if (this.bus.closed)
      return Promise.reject(new BusError(BusErrorCode.closed, 'cannot ack: the bus is closed'));
    this.log.ack(this.record, this.consumer);
    return Promise.resolve();
  }

  nak(delayMs = 0): void {
    if (!this.bus.closed) this.log.nak(this.record, this.consumer, delayMs, this.bus.now());
  }

  working(): void {
    if (!this.bus.closed) this.log.working(this.record, this.consumer, this.bus.now());
  }
}

interface Waiter {
  readonly maxMessages: number;
  /** Real time (Date.now) at which the wait ends empty. */
  readonly expiresAt: number;
  readonly resolve: (batch: BusMessage[]) => void;
}

/** setTimeout's largest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class MemoryMailbox implements Mailbox, PartitionListener {
  private isClosed = false;

  get closed(): boolean {
    return this.isClosed;
  }
  private readonly waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: PartitionLog,
    private readonly bus: MemoryBusContext,
  ) {}

  next(opts: { maxMessages: number; maxWaitMs: number }): Promise<BusMessage[]> {
    checkNextOptions(opts);
    if (this.isClosed) return Promise.resolve([]);
    if (this.waiters.length === 0) {
      const batch = this.take(opts.maxMessages);
      if (batch.length > 0 || opts.maxWaitMs <= 0) return Promise.resolve(batch);
    }
    return new Promise((resolve) => {
      this.waiters.push({ maxMessages: opts.maxMessages, expiresAt: Date.now() + opts.maxWaitMs, resolve });
      this.arm();
    });
  }

  close(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    this.isClosed = true;
    this.log.detach(this);
    this.bus.forget(this);
    this.disarm();
    for (const waiter of this.waiters.splice(0)) waiter.resolve([]);
    return Promise.resolve();
  }

  onPartitionChange(): void {
    if (this.waiters.length > 0) this.serve();
  }

  detach(): void {
    void this.close();
  }

  private take(max: number): BusMessage[] {
    const records = this.log.take(max, this.bus.now());
    const consumer = this.log.currentConsumer;
    const batch = new Array<BusMessage>(records.length);
    for (let i = 0; i < records.length; i++)
      batch[i] = new MemoryMessage(records[i]!, this.log, this.bus, consumer);
    return batch;
  }

  /** Serves waiters in arrival order while there are messages, expires the ones past their wait, re-arms. */
  private serve(): void {
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0]!;
      const batch = this.take(waiter.maxMessages);
      if (batch.length === 0) break;
      this.waiters.shift();
      waiter.resolve(batch);
    }
    const now = Date.now();
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.expiresAt <= now) {
        this.waiters.splice(i, 1);
        waiter.resolve([]);
      }
    }
    this.arm();
  }

  /** One timer per mailbox, for the earliest of: a waiter's time-out, the next redelivery deadline. */
  private arm(): void {
    this.disarm();
    if (this.waiters.length === 0) return;
    const now = Date.now();
    let delay = Infinity;
    for (const waiter of this.waiters) delay = Math.min(delay, waiter.expiresAt - now);
    const deadline = this.log.nextDeadlineMs();
    if (deadline !== Infinity) delay = Math.min(delay, deadline - this.bus.now());
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.serve();
      },
      Math.min(Math.max(0, delay), MAX_TIMER_MS),
    );
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
