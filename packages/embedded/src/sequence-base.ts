/**
 * Stream sequences that continue across runs. Positions come from the ingested stream's sequence
 * (`seq << 16 | index`); JetStream keeps its sequences, but the in-memory bus starts at 1 in every process. On a
 * database from an earlier run, its messages are numbered from past the largest committed position instead, so
 * positions keep increasing and no new event looks older than what its account has already applied.
 */
import type { Bus, BusMessage, Mailbox } from '@throughline/bus';

class OffsetMessage implements BusMessage {
  constructor(
    private readonly inner: BusMessage,
    private readonly base: number,
  ) {}

  get subject() {
    return this.inner.subject;
  }
  get topic() {
    return this.inner.topic;
  }
  get partition() {
    return this.inner.partition;
  }
  get data() {
    return this.inner.data;
  }
  get headers() {
    return this.inner.headers;
  }
  get seq() {
    return this.inner.seq + this.base;
  }
  get deliveryCount() {
    return this.inner.deliveryCount;
  }
  get publishedAtMs() {
    return this.inner.publishedAtMs;
  }
  ack(): Promise<void> {
    return this.inner.ack();
  }
  nak(delayMs?: number): void {
    this.inner.nak(delayMs);
  }
  working(): void {
    this.inner.working();
  }
}

/** The sequence base for a ledger whose largest position is `maxPosition`: new positions start past it. */
export function sequenceBaseAfter(maxPosition: bigint): number {
  return maxPosition <= 0n ? 0 : Number(maxPosition >> 16n);
}

/** `bus`, with every delivered message's sequence `base` higher (`bus` itself when `base` is 0). */
export function withSequenceBase(bus: Bus, base: number): Bus {
  if (base === 0) return bus;
  const offsetMailbox = (mailbox: Mailbox): Mailbox => ({
    async next(opts) {
      return (await mailbox.next(opts)).map((m) => new OffsetMessage(m, base));
    },
    close: () => mailbox.close(),
    get closed() {
      return mailbox.closed;
    },
  });
  return {
    ensureTopology: () => bus.ensureTopology(),
    publish: (subject, data, opts) => bus.publish(subject, data, opts),
    openMailbox: async (opts) => offsetMailbox(await bus.openMailbox(opts)),
    deadLetter: (msg, reason, part) => bus.deadLetter(msg, reason, part),
    readDeadLetters: (opts) => bus.readDeadLetters(opts),
    removeDeadLetter: (seq) => bus.removeDeadLetter(seq),
    backlog: (opts) => bus.backlog(opts),
    leases: () => bus.leases(),
    clients: () => bus.clients(),
    topicBacklog: (topic) => bus.topicBacklog(topic),
    close: () => bus.close(),
  };
}
