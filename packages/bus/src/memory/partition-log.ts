/**
 * One partition of an in-memory topic stream and the state of the one durable consumer allowed on it (work-queue
 * retention allows one consumer a subject, as in JetStream).
 *
 * Records stay in stream order in one array; acknowledged records are removed from the front (work-queue
 * retention), so the front of the array is always the first unacknowledged message. The consumer's cursor points
 * at the first never-delivered record; delivered-but-unacknowledged records are "outstanding" with a deadline.
 */
import type { Topic } from '@throughline/contracts';
import { ackWaitForDelivery, type ResolvedBusSettings } from '../settings.js';
import type { ConsumerBacklog } from '../types.js';

export type RecordState = 'pending' | 'outstanding' | 'exhausted' | 'acked';

export interface StoredRecord {
  readonly seq: number;
  readonly subject: string;
  readonly topic: Topic;
  readonly partition: number;
  readonly data: Uint8Array;
  readonly headers: ReadonlyMap<string, string>;
  readonly publishedAtMs: number;
  state: RecordState;
  deliveryCount: number;
  /** Redelivery deadline while outstanding (ms, in the bus clock). */
  deadlineMs: number;
}

/** Who gets woken when the partition changes: the mailbox currently attached to the consumer. */
export interface PartitionListener {
  onPartitionChange(): void;
  /** Called when another mailbox takes over the consumer. */
  detach(): void;
}

/** The durable consumer of a partition; a new one (a newer lease epoch) makes every earlier delivery's ack void. */
export interface ConsumerState {
  readonly group: string;
  /** The lease epoch it was opened under (0 when none was given). */
  readonly epoch: number;
  /** Index (in `records`) of the first record never delivered. */
  cursor: number;
  readonly outstanding: Set<StoredRecord>;
  exhausted: number;
  /** No outstanding record has a deadline before this (may be early: it is a lower bound). */
  nextDeadlineMs: number;
  listener: PartitionListener | undefined;
}

const COMPACT_MIN = 1024;

export class PartitionLog {
  private records: (StoredRecord | undefined)[] = [];
  private head = 0;
  private unacked = 0;
  private consumer: ConsumerState | undefined;

  constructor(
    private readonly settings: ResolvedBusSettings,
    private readonly onExhausted: (record: StoredRecord) => void,
  ) {}

  /** Messages stored and not yet acknowledged. */
  get unacknowledged(): number {
    return this.unacked;
  }

  get consumerGroup(): string | undefined {
    return this.consumer?.group;
  }

  /** The consumer deliveries are made for now (acks of deliveries made for an earlier one are ignored). */
  get currentConsumer(): ConsumerState | undefined {
    return this.consumer;
  }

  append(record: StoredRecord): void {
    this.records.push(record);
    this.unacked++;
    this.consumer?.listener?.onPartitionChange();
  }

  /**
   * Attaches a mailbox to the durable consumer, creating it if needed. If the consumer has delivered messages that
   * are still unacknowledged (their owner died or closed), it starts over at the first unacknowledged message —
   * as deleting and recreating a JetStream consumer on a work-queue stream does. A newer `epoch` replaces the
   * consumer (as a new durable name does in JetStream): acks of earlier deliveries no longer count.
   * @returns whether the consumer was reset, or 'fenced' when a consumer of a newer epoch exists.
   */
  attach(group: string, epoch: number, listener: PartitionListener): boolean | 'fenced' {
    const current = this.consumer;
    if (current !== undefined && current.epoch > epoch) return 'fenced';
    if (current === undefined || current.epoch < epoch) {
      if (current !== undefined) this.rewind(current);
      this.consumer = {
        group,
        epoch,
        cursor: this.head,
        outstanding: new Set(),
        exhausted: 0,
        nextDeadlineMs: Infinity,
        listener,
      };
      if (current?.listener !== undefined && current.listener !== listener) current.listener.detach();
      return current !== undefined;
    }
    let reset = false;
    // Mirrors JetStream, where the bus recreates the consumer when num_ack_pending > 0 (exhausted messages are
    // not ack-pending there, so alone they do not trigger it; a reset does deliver them again).
    if (current.outstanding.size > 0) {
      this.rewind(current);
      reset = true;
    }
    const previous = current.listener;
    current.listener = listener;
    if (previous !== undefined && previous !== listener) previous.detach();
    return reset;
  }

  detach(listener: PartitionListener): void {
    if (this.consumer?.listener === listener) this.consumer.listener = undefined;
  }

  /** Delivers up to `max` messages: due redeliveries first, then new ones while under `maxAckPending`. */
  take(max: number, nowMs: number): StoredRecord[] {
    const consumer = this.consumer;
    const batch: StoredRecord[] = [];
    if (consumer === undefined || max <= 0) return batch;
    if (nowMs >= consumer.nextDeadlineMs) this.redeliverDue(consumer, max, nowMs, batch);
    while (
      batch.length < max &&
      consumer.outstanding.size < this.settings.maxAckPending &&
      consumer.cursor < this.records.length
    ) {
      const record = this.records[consumer.cursor++];
      if (record === undefined || record.state !== 'pending') continue;
      this.deliver(consumer, record, nowMs);
      batch.push(record);
    }
    return batch;
  }

  /** Earliest redelivery deadline of the consumer (a lower bound), or `Infinity`. */
  nextDeadlineMs(): number {
    return this.consumer?.nextDeadlineMs ?? Infinity;
  }

  /** Acknowledges a delivery made for `by`; ignored when another consumer has replaced it since. */
  ack(record: StoredRecord, by: ConsumerState | undefined): void {
    if (record.state === 'acked' || by !== this.consumer) return;
    const consumer = this.consumer;
    if (record.state === 'outstanding') consumer?.outstanding.delete(record);
    else if (record.state === 'exhausted' && consumer !== undefined) consumer.exhausted--;
    record.state = 'acked';
    this.unacked--;
    this.dropAckedFront();
    consumer?.listener?.onPartitionChange();
  }

  nak(record: StoredRecord, by: ConsumerState | undefined, delayMs: number, nowMs: number): void {
    const consumer = this.consumer;
    if (record.state !== 'outstanding' || consumer === undefined || by !== consumer) return;
    if (record.deliveryCount >= this.settings.maxDeliver) {
      this.exhaust(consumer, record);
      return;
    }
    record.deadlineMs = nowMs + Math.max(0, delayMs);
    consumer.nextDeadlineMs = Math.min(consumer.nextDeadlineMs, record.deadlineMs);
    consumer.listener?.onPartitionChange();
  }

  working(record: StoredRecord, by: ConsumerState | undefined, nowMs: number): void {
    if (record.state !== 'outstanding' || by !== this.consumer) return;
    // Moving a deadline later leaves nextDeadlineMs a valid lower bound.
    record.deadlineMs = nowMs + ackWaitForDelivery(this.settings, record.deliveryCount);
  }

  /** Messages not yet acknowledged: not delivered (or past `maxDeliver`) and delivered but unacknowledged. */
  backlog(nowMs: number): ConsumerBacklog {
    const consumer = this.consumer;
    if (consumer === undefined) return { pending: this.unacked, ackPending: 0 };
    if (nowMs >= consumer.nextDeadlineMs) {
      for (const record of consumer.outstanding) {
        if (record.deadlineMs <= nowMs && record.deliveryCount >= this.settings.maxDeliver)
          this.exhaust(consumer, record);
      }
    }
    return {
      pending: this.unacked - consumer.outstanding.size - consumer.exhausted,
      ackPending: consumer.outstanding.size,
    };
  }

  private deliver(consumer: ConsumerState, record: StoredRecord, nowMs: number): void {
    record.state = 'outstanding';
    record.deliveryCount++;
    record.deadlineMs = nowMs + ackWaitForDelivery(this.settings, record.deliveryCount);
    consumer.outstanding.add(record);
    if (record.deadlineMs < consumer.nextDeadlineMs) consumer.nextDeadlineMs = record.deadlineMs;
  }

  private redeliverDue(consumer: ConsumerState, max: number, nowMs: number, batch: StoredRecord[]): void {
    const due: StoredRecord[] = [];
    let next = Infinity;
    for (const record of consumer.outstanding) {
      if (record.deadlineMs > nowMs) {
        next = Math.min(next, record.deadlineMs);
      } else if (record.deliveryCount >= this.settings.maxDeliver) {
        this.exhaust(consumer, record);
      } else {
        due.push(record);
      }
    }
    due.sort((a, b) => a.seq - b.seq);
    for (const record of due) {
      if (batch.length < max) {
        this.deliver(consumer, record, nowMs);
        batch.push(record);
      }
      next = Math.min(next, record.deadlineMs);
    }
    consumer.nextDeadlineMs = next;
  }

  /** Like nats-server past `max_deliver`: stop redelivering, but keep the message in the stream. */
  private exhaust(consumer: ConsumerState, record: StoredRecord): void {
    consumer.outstanding.delete(record);
    record.state = 'exhausted';
    consumer.exhausted++;
    this.onExhausted(record);
  }

  private rewind(consumer: ConsumerState): void {
    for (let i = this.head; i < consumer.cursor; i++) {
      const record = this.records[i];
      if (record !== undefined && record.state !== 'acked') {
        record.state = 'pending';
        record.deliveryCount = 0;
      }
    }
    consumer.outstanding.clear();
    consumer.exhausted = 0;
    consumer.cursor = this.head;
    consumer.nextDeadlineMs = Infinity;
  }

  private dropAckedFront(): void {
    const records = this.records;
    while (this.head < records.length && records[this.head]?.state === 'acked') {
      records[this.head] = undefined;
      this.head++;
    }
    if (this.head === records.length || (this.head > COMPACT_MIN && this.head * 2 > records.length)) {
      const shift = this.head;
      this.records = records.slice(shift);
      this.head = 0;
      if (this.consumer !== undefined) this.consumer.cursor = Math.max(0, this.consumer.cursor - shift);
    }
  }
}
