/** Remembers message ids for a window, like a JetStream stream's `duplicate_window`. */
import { Fifo } from '../fifo.js';

interface Entry {
  readonly msgId: string;
  readonly seq: number;
  readonly expiresAtMs: number;
}

export class DuplicateWindow {
  private readonly byId = new Map<string, Entry>();
  private readonly byAge = new Fifo<Entry>();

  constructor(private readonly windowMs: number) {}

  /** The sequence of an earlier message with `msgId` still inside the window, if any. */
  lookup(msgId: string, nowMs: number): number | undefined {
    this.expire(nowMs);
    return this.byId.get(msgId)?.seq;
  }

  remember(msgId: string, seq: number, nowMs: number): void {
    const entry = { msgId, seq, expiresAtMs: nowMs + this.windowMs };
    this.byId.set(msgId, entry);
    this.byAge.push(entry);
  }

  private expire(nowMs: number): void {
    for (
      let entry = this.byAge.peek();
      entry !== undefined && entry.expiresAtMs <= nowMs;
      entry = this.byAge.peek()
    ) {
      this.byAge.shift();
      if (this.byId.get(entry.msgId) === entry) this.byId.delete(entry.msgId);
    }
  }
}
