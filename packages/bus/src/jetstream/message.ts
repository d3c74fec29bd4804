/** A JetStream delivery seen through the `BusMessage` interface. */
import type { JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/nats-core';
import type { Topic } from '@throughline/contracts';
import { BusErrorCode } from '../errors.js';
import type { BusMessage } from '../types.js';
import { toBusError } from './nats-errors.js';

export class JetStreamMessage implements BusMessage {
  private headerMap: ReadonlyMap<string, string> | undefined;

  constructor(
    private readonly msg: JsMsg,
    readonly topic: Topic,
    readonly partition: number,
  ) {}

  get subject(): string {
    return this.msg.subject;
  }
  get data(): Uint8Array {
    return this.msg.data;
  }
  get headers(): ReadonlyMap<string, string> {
    this.headerMap ??= toHeaderMap(this.msg.headers);
    return this.headerMap;
  }
  get seq(): number {
    return this.msg.info.streamSequence;
  }
  get deliveryCount(): number {
    return this.msg.info.deliveryCount;
  }
  get publishedAtMs(): number {
    return Math.floor(this.msg.info.timestampNanos / 1_000_000);
  }

  async ack(): Promise<void> {
    try {
      // Resolves false when this delivery was already acked: nothing left to do.
      await this.msg.ackAck();
    } catch (err) {
      throw toBusError(err, BusErrorCode.ackFailed, `ack ${this.subject}#${this.seq}`);
    }
  }

  nak(delayMs?: number): void {
    this.msg.nak(delayMs);
  }

  working(): void {
    this.msg.working();
  }
}

/** The first value of each header, names as published. */
export function toHeaderMap(headers: MsgHdrs | undefined): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  if (headers === undefined) return map;
  for (const [name, values] of headers) {
    const first = values[0];
    if (first !== undefined) map.set(name, first);
  }
  return map;
}
