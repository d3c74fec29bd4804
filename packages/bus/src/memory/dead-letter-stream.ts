/** The in-memory dead-letter stream: limits retention (7 days), oldest first, with a duplicate window. */
import { subjects, type Topic } from '@throughline/contracts';
import { DEAD_LETTER_MAX_AGE_MS, toDeadLetter } from '../dead-letter.js';
import { Fifo } from '../fifo.js';
import type { DeadLetter, PublishAck } from '../types.js';
import { DuplicateWindow } from './duplicate-window.js';

interface StoredDeadLetter {
  readonly seq: number;
  readonly topic: Topic;
  readonly storedAtMs: number;
  readonly letter: DeadLetter;
}

export class DeadLetterStream {
  readonly name = subjects.deadLetterStream;
  private lastSeq = 0;
  private readonly letters = new Fifo<StoredDeadLetter>();
  private readonly duplicates: DuplicateWindow;

  constructor(duplicateWindowMs: number) {
    this.duplicates = new DuplicateWindow(duplicateWindowMs);
  }

  store(
    subject: string,
    topic: Topic,
    data: Uint8Array,
    headers: ReadonlyMap<string, string>,
    msgId: string,
    nowMs: number,
  ): PublishAck {
    this.expire(nowMs);
    const original = this.duplicates.lookup(msgId, nowMs);
    if (original !== undefined) return { stream: this.name, seq: original, duplicate: true };
    const seq = ++this.lastSeq;
    this.duplicates.remember(msgId, seq, nowMs);
    this.letters.push({
      seq,
      topic,
      storedAtMs: nowMs,
      letter: toDeadLetter({ seq, storedAtMs: nowMs }, subject, data, headers),
    });
    return { stream: this.name, seq, duplicate: false };
  }

  read(topic: Topic | undefined, limit: number, nowMs: number): DeadLetter[] {
    this.expire(nowMs);
    const out: DeadLetter[] = [];
    for (const stored of this.letters) {
      if (out.length >= limit) break;
      if (topic === undefined || stored.topic === topic) out.push(stored.letter);
    }
    return out;
  }

  remove(seq: number): boolean {
    const kept = [...this.letters].filter((s) => s.seq !== seq);
    const removed = kept.length !== this.letters.length;
    if (removed) {
      this.letters.clear();
      for (const s of kept) this.letters.push(s);
    }
    return removed;
  }

  private expire(nowMs: number): void {
    for (
      let s = this.letters.peek();
      s !== undefined && nowMs - s.storedAtMs >= DEAD_LETTER_MAX_AGE_MS;
      s = this.letters.peek()
    ) {
      this.letters.shift();
    }
  }
}
