/**
 * The one bus interface of throughline. Two implementations satisfy it — NATS JetStream and in-memory — and the
 * conformance suite in `test/conformance.ts` runs against both.
 *
 * Topology: one stream per topic (`TL_INGESTED`, `TL_ENRICHED`, `TL_APPLIED`, work-queue retention), one subject
 * per partition (`tl.<topic>.<p>`), one durable pull consumer per (consumer group, topic, partition) filtered on
 * that single subject (nats-server 2.9 allows one filter subject per consumer). Dead letters go to the
 * `TL_DEAD_LETTER` stream on `tl.dead.<topic>.<p>`.
 */
import type { Topic } from '@throughline/contracts';

/** Header names used on the bus. */
export const Headers = {
  /** JetStream's de-duplication id; deterministic per logical message. */
  msgId: 'Nats-Msg-Id',
  /** W3C trace context of the producer. */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /** Why a message was dead-lettered. */
  deadLetterReason: 'Tl-Dead-Letter-Reason',
  /** The subject a dead letter was consumed from. */
  deadLetterSubject: 'Tl-Dead-Letter-Subject',
  /** The stream sequence a dead letter had in its topic's stream. */
  deadLetterSeq: 'Tl-Dead-Letter-Seq',
  /** How many times the message had been delivered when it was dead-lettered. */
  deadLetterDeliveries: 'Tl-Dead-Letter-Deliveries',
  /**
   * The original `Nats-Msg-Id` of a dead letter: the dead letter itself is published with the id
   * `dead:<stream>:<seq>`, which replaces the original one.
   */
  deadLetterMsgId: 'Tl-Dead-Letter-Msg-Id',
  /** On a dead letter of one item of a message (an event of a batch): the item's index in the message. */
  deadLetterPart: 'Tl-Dead-Letter-Part',
  /**
   * On a writer's dead letter sent back to the writer (`throughline dlq redrive`): the dead letter's sequence. The
   * writer commits its results whatever state epoch produced them (they passed the fence when they were first
   * committed and refused for their content).
   */
  redriven: 'Tl-Redriven',
} as const;

/** The logger a bus receives from its app (the bus never prints on its own). */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface PublishOptions {
  /** Deterministic de-duplication id (`Nats-Msg-Id`): a second publish with the same id inside the duplicate window is dropped. */
  msgId: string;
  /** Extra headers (for example `traceparent`). */
  headers?: Record<string, string>;
}

export interface PublishAck {
  stream: string;
  /** Stream sequence the message was stored at (for a duplicate: the sequence of the original). */
  seq: number;
  /** True when the stream dropped this publish as a duplicate of an earlier one with the same `msgId`. */
  duplicate: boolean;
}

/** One message delivered from a topic's stream. */
export interface BusMessage {
  readonly subject: string;
  readonly topic: Topic;
  readonly partition: number;
  readonly data: Uint8Array;
  /** Headers as sent (names as published). */
  readonly headers: ReadonlyMap<string, string>;
  /** Stream sequence: unique in the topic's stream and increasing in publish order. */
  readonly seq: number;
  /** 1 on the first delivery, 2 on the first redelivery, and so on. */
  readonly deliveryCount: number;
  /** When the stream stored the message, milliseconds since the epoch. */
  readonly publishedAtMs: number;
  /** Acknowledges the message; resolves once the server confirmed it (JetStream double ack). */
  ack(): Promise<void>;
  /** Asks for redelivery, after `delayMs` (default: at once). */
  nak(delayMs?: number): void;
  /** Extends the ack deadline while the message is still being worked on. */
  working(): void;
}

export interface MailboxOptions {
  /** Consumer group, usually the service name (`enrich`, `state`, `writer`): part of the durable name. */
  group: string;
  topic: Topic;
  partition: number;
  /**
   * The lease epoch of the opener. A mailbox opened under a newer epoch replaces the consumer of every older one:
   * their acks no longer count, and what they left unacknowledged is delivered again, in order. Opening under an
   * older epoch than the current consumer's fails with `BUS_FENCED`. Default 0.
   */
  epoch?: number;
}

/**
 * The mailbox of one partition actor: a durable pull consumer on one partition subject.
 *
 * Opening a mailbox whose consumer has unacknowledged messages (its previous owner died) restarts delivery at the
 * first unacknowledged message, so a partition is always consumed in stream order.
 */
export interface Mailbox {
  /**
   * Waits up to `maxWaitMs` for at least one message, then returns what is available, up to `maxMessages`, in
   * stream order. Returns an empty array on time-out or once the mailbox is closed.
   */
  next(opts: { maxMessages: number; maxWaitMs: number }): Promise<BusMessage[]>;
  /** Stops pulling. Messages fetched but not acked are redelivered to the next owner. Idempotent. */
  close(): Promise<void>;
  /** True once closed (by `close()`, or by another mailbox taking the consumer over). */
  readonly closed: boolean;
}

export interface ConsumerBacklog {
  /** Messages not yet delivered to the consumer. */
  pending: number;
  /** Messages delivered but not yet acknowledged. */
  ackPending: number;
}

/** One item of a message (an event of a batch) dead-lettered alone. */
export interface DeadLetterPart {
  /** The item's index in the message. */
  index: number;
  /** The item alone, encoded as a message of the same topic would be (a batch of one). */
  data: Uint8Array;
}

export interface DeadLetter {
  /** Its sequence in the dead-letter stream: how `removeDeadLetter` and `throughline dlq` name it. */
  seq: number;
  /** When it was dead-lettered, ms since the epoch. */
  storedAtMs: number;
  subject: string;
  /** The subject the message was consumed from. */
  originalSubject: string;
  /** Its sequence in the original stream. */
  originalSeq: number;
  reason: string;
  deliveries: number;
  /** For one item of a message dead-lettered alone: its index in the message. */
  part: number | undefined;
  data: Uint8Array;
  /** The original headers plus the `Tl-Dead-Letter-*` headers. */
  headers: ReadonlyMap<string, string>;
}

/** One key of a lease bucket as read or watched. */
export interface LeaseEntry {
  key: string;
  /** The value; undefined when the key was deleted. */
  value: Uint8Array | undefined;
  /** The revision of this write: larger than that of any earlier write in the bucket. */
  revision: number;
  /** When the bucket stored this write (its server's clock), ms since the epoch; given by watches. */
  storedAtMs?: number;
}

/** A running watch of a lease bucket. */
export interface LeaseWatch {
  /** Stops delivering changes. Idempotent. */
  stop(): Promise<void>;
}

/**
 * A small key-value store with revisions and a time to live, where the instances of a stage register and hold
 * their partition leases (NATS KV on nats-server 2.9: compare-and-set on a key's last revision).
 *
 * Every write gets a revision larger than any before it in the bucket. A key not written for `ttlMs` is gone: it
 * reads as absent and `create` succeeds on it; as in NATS, no watch event tells of that expiry. Keys are
 * `.`-separated tokens of `[A-Za-z0-9_-]`.
 */
export interface LeaseBucket {
  /** How long a key lives after its last write, ms; 0: until deleted. */
  readonly ttlMs: number;
  /** Writes `key` only when it holds no value (never written, deleted or expired): its revision, else undefined. */
  create(key: string, value: Uint8Array): Promise<number | undefined>;
  /** Writes `key` only when its last revision is `revision`: the new revision, else undefined. */
  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined>;
  /** Writes `key` whatever it holds: the new revision. */
  put(key: string, value: Uint8Array): Promise<number>;
  /** Deletes `key` when its last revision is `revision` (any, when omitted): whether it was deleted. */
  delete(key: string, revision?: number): Promise<boolean>;
  /** The current value of `key`, or undefined when it holds none (never written, deleted, expired). */
  get(key: string): Promise<LeaseEntry | undefined>;
  /**
   * Makes every later write's revision larger than `floor`. When the bucket's revisions are not already past it
   * (it was lost and created again, so revisions started over while the stores still hold the old epochs), every
   * key is removed on the way: every holder loses its leases, and takes them again with new, larger epochs.
   */
  advanceRevision(floor: number): Promise<void>;
  /** The value of every key under `prefix` (`state.lease` reads `state.lease.*`), deleted ones left out. */
  entries(prefix: string): Promise<LeaseEntry[]>;
  /**
   * Calls `onEntry` with the current value of every key under `prefix`, then with every later write or delete,
   * in revision order; resolves once the current values have been delivered.
   */
  watch(prefix: string, onEntry: (entry: LeaseEntry) => void): Promise<LeaseWatch>;
}

export interface Bus {
  /** Creates (or updates to the configured settings) every topic stream and the dead-letter stream. Idempotent. */
  ensureTopology(): Promise<void>;
  /** Publishes and resolves once the stream has stored the message (or recognised it as a duplicate). */
  publish(subject: string, data: Uint8Array, opts: PublishOptions): Promise<PublishAck>;
  /** Opens the mailbox of one partition for one consumer group, creating its durable consumer if needed. */
  openMailbox(opts: MailboxOptions): Promise<Mailbox>;
  /**
   * Moves a message to the dead-letter stream with its body, its headers and `reason`, then acknowledges it so
   * the partition keeps flowing. With `part`, dead-letters one item of the message instead (its body is
   * `part.data`, its id names the item's index) and does not acknowledge the message: the rest of it goes on.
   */
  deadLetter(msg: BusMessage, reason: string, part?: DeadLetterPart): Promise<void>;
  /** Reads dead letters (oldest first), for operators and tests; nothing is consumed. */
  readDeadLetters(opts?: { topic?: Topic; limit?: number }): Promise<DeadLetter[]>;
  /** Deletes the dead letter stored at `seq` (once redriven or purged); false when there is none. */
  removeDeadLetter(seq: number): Promise<boolean>;
  /**
   * Messages of a whole topic not yet acknowledged (work-queue retention keeps only those): what its stage still
   * has to process, over every partition. One request, for autoscalers and dashboards.
   */
  topicBacklog(topic: Topic): Promise<number>;
  /** Backlog of a partition: its messages not yet acknowledged (delivered or not). */
  backlog(opts: MailboxOptions): Promise<ConsumerBacklog>;
  /** The bucket of stage membership and partition leases (created by `ensureTopology()`). */
  leases(): Promise<LeaseBucket>;
  /**
   * The bucket of ingest's client credentials (created by `ensureTopology()`): keys live until deleted
   * (`ttlMs` 0). Written by operators (`throughline clients`), watched by ingest.
   */
  clients(): Promise<LeaseBucket>;
  /** Closes connections; open mailboxes stop. */
  close(): Promise<void>;
}

/** Settings shared by both implementations; every value has a default. */
export interface BusSettings {
  /** How long a stream remembers a `Nats-Msg-Id` to drop duplicates. Default 120000 (2 minutes). */
  duplicateWindowMs?: number;
  /** How long a delivered message may stay unacknowledged before it is redelivered. Default 30000. */
  ackWaitMs?: number;
  /** Deliveries after which the server stops redelivering a message. Default 10. */
  maxDeliver?: number;
  /** Unacknowledged messages a consumer may have outstanding (bounds each mailbox). Default 64. */
  maxAckPending?: number;
  /** Largest message the stream accepts, bytes. Default 8388608 (8 MiB). */
  maxMessageBytes?: number;
  /**
   * How long a member registration or a partition lease lives without being renewed, ms: a crashed owner's
   * partitions move after this long. The same in every service of a deployment. Default 5000.
   */
  leaseTtlMs?: number;
  /**
   * Copies JetStream keeps of every stream and bucket (topics, dead letters, leases, clients): 1 on a single
   * server; 3 on a clustered NATS, so that an acknowledged message survives the loss of a node and its disk, and
   * the pipeline goes on while a node is down (a quorum of 2 of 3). At most the number of JetStream servers. An
   * existing stream is moved to this count in place (nats-server copies it to the new peers). Default 1.
   */
  streamReplicas?: number;
  /**
   * Whether to keep more than one copy on a nats-server older than 2.10 anyway. There, a work-queue stream's copies
   * disagree after a node restart and acknowledged messages can be lost (measured; README, "Exactly once"), so
   * `ensureTopology()` refuses `streamReplicas` above 1 on such a server unless this is set. Default false.
   */
  acceptNats29Replicas?: boolean;
}
