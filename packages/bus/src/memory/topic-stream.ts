/** An in-memory topic stream: sequence numbers, the duplicate window and one log per partition. */
import { subjects, type Topic } from '@throughline/contracts';
import type { ResolvedBusSettings } from '../settings.js';
import type { PublishAck } from '../types.js';
import { DuplicateWindow } from './duplicate-window.js';
import { PartitionLog, type StoredRecord } from './partition-log.js';

export class TopicStream {
  readonly name: string;
  private lastSeq = 0;
  private readonly duplicates: DuplicateWindow;
  private readonly partitions = new Map<number, PartitionLog>();

  constructor(
    readonly topic: Topic,
    private readonly settings: ResolvedBusSettings,
    private readonly onExhausted: (record: StoredRecord) => void,
  ) {
    this.name = subjects.stream(topic);
    this.duplicates = new DuplicateWindow(settings.duplicateWindowMs);
  }

  /** Stores a message (data and headers already copied by the caller) unless its id is a duplicate. */
  store(
    subject: string,
    partition: number,
    data: Uint8Array,
    headers: ReadonlyMap<string, string>,
    msgId: string,
    nowMs: number,
  ): PublishAck {
    const original = this.duplicates.lookup(msgId, nowMs);
    if (original !== undefined) return { stream: this.name, seq: original, duplicate: true };
    const seq = ++this.lastSeq;
    this.duplicates.remember(msgId, seq, nowMs);
    const record: StoredRecord = {
      seq,
      subject,
      topic: this.topic,
      partition,
      data,
      headers,
      publishedAtMs: nowMs,
      state: 'pending',
      deliveryCount: 0,
      deadlineMs: 0,
    };
    this.partition(partition).append(record);
    return { stream: this.name, seq, duplicate: false };
  }

  partition(partition: number): PartitionLog {
    let log = this.partitions.get(partition);
    if (log === undefined) {
      log = new PartitionLog(this.settings, this.onExhausted);
      this.partitions.set(partition, log);
    }
    return log;
  }

  /** Messages of every partition not yet acknowledged. */
  unacknowledged(): number {
    let total = 0;
    for (const log of this.partitions.values()) total += log.unacknowledged;
    return total;
  }

  existingPartition(partition: number): PartitionLog | undefined {
    return this.partitions.get(partition);
  }
}
