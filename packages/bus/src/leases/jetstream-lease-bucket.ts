/**
 * The key-value buckets of the JetStream bus: NATS KV buckets whose stream keeps one value a key. The lease bucket
 * (`KV_tl_leases`) removes a key `ttlMs` after its last write (`max_age`); the client bucket (`KV_tl_clients`,
 * ingest's credentials) keeps its keys until deleted. Works on nats-server 2.9: compare-and-set is a publish with
 * the expected last subject sequence.
 */
import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { BusErrorCode, ensureError } from '../errors.js';
import { isJetStreamUnavailable, isSequenceResync, toBusError } from '../jetstream/nats-errors.js';
import type { LeaseBucket, LeaseEntry, LeaseWatch, Logger } from '../types.js';
import { checkLeaseKey } from './keys.js';

/** The lease bucket's name; its stream is `KV_tl_leases`. */
export const LEASE_BUCKET = 'tl_leases';
/** The client bucket's name (ingest's client credentials); its stream is `KV_tl_clients`. */
export const CLIENT_BUCKET = 'tl_clients';
/** How often a compare-and-set refused by a leader setting its sequence right is sent (each one is refused once). */
const SEQUENCE_RESYNC_ATTEMPTS = 3;
/** The statuses of a watch's consumer worth a warning (see `reportStatus`). */
const WATCH_WARN_ON: ReadonlySet<string> = new Set([
  'heartbeats_missed',
  'ordered_consumer_recreated',
  'consumer_not_found',
  'stream_not_found',
  'no_responders',
]);
/** The header nats.js and nats-server use to mark a KV delete (`DEL`) or purge (`PURGE`). */
const KV_OPERATION_HEADER = 'KV-Operation';

/**
 * Creates the lease bucket, or brings its time to live to `ttlMs` and its copies to `replicas` when it exists with
 * others.
 */
export async function ensureLeaseBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  ttlMs: number,
  replicas: number,
  logger?: Logger,
): Promise<void> {
  await ensureBucket(
    nc,
    jsm,
    { label: 'lease', bucket: LEASE_BUCKET, ttlMs, replicas },
    logger,
    async (stream) =>
      // Revisions (so lease epochs) of a new bucket start at the current time in microseconds: a bucket created
      // again after a loss hands out epochs above every epoch of the one before (its writes never reached a
      // million a second), so the stores' fences keep working. 2^53 µs is the year 2255.
      jsm.streams.purge(stream, { seq: epochFloorNow() + 1 }),
  );
}

/** Creates the client bucket when it is missing (no time to live, the last value of each key kept). */
export async function ensureClientBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  replicas: number,
  logger?: Logger,
): Promise<void> {
  await ensureBucket(nc, jsm, { label: 'client', bucket: CLIENT_BUCKET, ttlMs: 0, replicas }, logger);
}

async function ensureBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  want: { label: string; bucket: string; ttlMs: number; replicas: number },
  logger: Logger | undefined,
  onCreated?: (stream: string) => Promise<unknown>,
): Promise<void> {
  const { label, bucket, ttlMs, replicas } = want;
  const stream = `KV_${bucket}`;
  try {
    const info = await jsm.streams.info(stream).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
      throw err;
    });
    if (info === undefined) {
      await new Kvm(nc).create(bucket, { history: 1, replicas, ...(ttlMs > 0 ? { ttl: ttlMs } : {}) });
      await onCreated?.(stream);
      logger?.info(`${label} bucket created`, { bucket, ttlMs, replicas });
      return;
    }
    const maxAge = nanos(ttlMs);
    if (info.config.max_age === maxAge && (info.config.num_replicas || 1) === replicas) return;
    // nats-server refuses a duplicate window longer than max_age.
    const duplicateWindow =
      ttlMs > 0 ? Math.min(info.config.duplicate_window ?? maxAge, maxAge) : info.config.duplicate_window;
    await jsm.streams.update(stream, {
      ...info.config,
      max_age: maxAge,
      duplicate_window: duplicateWindow,
      num_replicas: replicas,
    });
    logger?.warn(`${label} bucket settings changed`, { bucket, ttlMs, replicas });
  } catch (err) {
    throw toBusError(err, BusErrorCode.requestFailed, `ensure bucket ${bucket}`);
  }
}

/** The first revision of a lease bucket created now: the current time in microseconds. */
export function epochFloorNow(nowMs: number = Date.now()): number {
  return Math.floor(nowMs) * 1000;
}

/**
 * Opens a bucket (which `ensureLeaseBucket` or `ensureClientBucket` created): `LEASE_BUCKET` with its `ttlMs`, or
 * `CLIENT_BUCKET` with 0 (keys never expire).
 */
export async function openLeaseBucket(
  nc: NatsConnection,
  ttlMs: number,
  requestTimeoutMs: number,
  bucket: string = LEASE_BUCKET,
  logger?: Logger,
): Promise<LeaseBucket> {
  try {
    const js = jetstream(nc, { timeout: requestTimeoutMs });
    const jsm = await jetstreamManager(nc, { timeout: requestTimeoutMs });
    return new JetStreamLeaseBucket(
      bucket,
      await new Kvm(js).open(bucket),
      js,
      jsm,
      ttlMs,
      requestTimeoutMs,
      logger,
    );
  } catch (err) {
    throw toBusError(err, BusErrorCode.requestFailed, `open bucket ${bucket}`);
  }
}

/** nats-server's answers to a compare-and-set whose expected revision is not the key's last one. */
function isWrongRevision(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

class JetStreamLeaseBucket implements LeaseBucket {
  private readonly stream: string;
  private readonly keyPrefix: string;

  constructor(
    bucket: string,
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly ttlMs: number,
    private readonly requestTimeoutMs: number,
    private readonly logger: Logger | undefined,
  ) {
    this.stream = `KV_${bucket}`;
    this.keyPrefix = `$KV.${bucket}.`;
  }

  async create(key: string, value: Uint8Array): Promise<number | undefined> {
    checkLeaseKey(key);
    return this.compareAndSet(`create ${key}`, () => this.kv.create(key, value));
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    checkLeaseKey(key);
    // nats.js refuses revision 0; a key that is gone cannot match a revision anyway.
    if (revision <= 0) return undefined;
    return this.compareAndSet(`update ${key}`, () => this.kv.update(key, value, revision));
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkLeaseKey(key);
    try {
      // Overwriting is idempotent: tried again through a leader election of a clustered bucket.
      return await this.whileUnavailable(() => this.kv.put(key, value));
    } catch (err) {
      throw toBusError(err, BusErrorCode.requestFailed, `put ${key}`);
    }
  }

  /**
   * Runs `work` again while JetStream does not answer (a clustered bucket electing its leader), for at most two
   * request time-outs. Only for reads and idempotent writes: a compare-and-set that timed out may have been stored.
   */
  private async whileUnavailable<R>(work: () => Promise<R>): Promise<R> {
    const deadline = Date.now() + 2 * this.requestTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (err) {
        if (!isJetStreamUnavailable(err) || Date.now() >= deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** (attempt - 1), 1_000)));
      }
    }
  }

  async delete(key: string, revision?: number): Promise<boolean> {
    checkLeaseKey(key);
    if (revision !== undefined && revision <= 0) return false;
    const done = await this.compareAndSet(`delete ${key}`, async () => {
      await this.kv.delete(key, revision === undefined ? {} : { previousSeq: revision });
      return 1;
    });
    return done !== undefined;
  }

  async get(key: string): Promise<LeaseEntry | undefined> {
    checkLeaseKey(key);
    try {
      const entry = await this.whileUnavailable(() => this.kv.get(key));
      if (entry === null || entry.operation !== 'PUT') return undefined;
      return { key, value: entry.value, revision: entry.revision };
    } catch (err) {
      throw toBusError(err, BusErrorCode.requestFailed, `get ${key}`);
    }
  }

  async advanceRevision(floor: number): Promise<void> {
    try {
      const info = await this.jsm.streams.info(this.stream);
      if (info.state.last_seq >= floor) return;
      // A purge up to a sequence past the end makes the stream's next sequence that one (nats-server 2.9+).
      await this.jsm.streams.purge(this.stream, { seq: floor + 1 });
    } catch (err) {
      throw toBusError(err, BusErrorCode.requestFailed, `advance ${this.stream} past revision ${floor}`);
    }
  }

  async entries(prefix: string): Promise<LeaseEntry[]> {
    const latest = new Map<string, LeaseEntry>();
    const watch = await this.watch(prefix, (entry) => latest.set(entry.key, entry));
    await watch.stop();
    return [...latest.values()]
      .filter((entry) => entry.value !== undefined)
      .sort((a, b) => a.revision - b.revision);
  }

  async watch(prefix: string, onEntry: (entry: LeaseEntry) => void): Promise<LeaseWatch> {
    checkLeaseKey(prefix);
    const filter = `${this.keyPrefix}${prefix}.>`;
    const patienceMs = this.ttlMs > 0 ? this.ttlMs : this.requestTimeoutMs;
    let messages: ConsumerMessages;
    let initial: Promise<void>;
    try {
      // An ordered consumer starting at each key's last value: it recreates itself past a gap or a reconnect.
      const consumer = await this.js.consumers.get(this.stream, {
        filter_subjects: filter,
        deliver_policy: DeliverPolicy.LastPerSubject,
      });
      const pendingAtStart = (await consumer.info(true)).num_pending;
      let initialDone!: () => void;
      initial = new Promise<void>((resolve) => (initialDone = resolve));
      if (pendingAtStart === 0) initialDone();
      messages = await consumer.consume({
        // Pull requests that expire within the time to live (nats.js's default is 30 s), so that heartbeats missed
        // after the consumer's server went away are noticed, and the consumer re-created, within it too.
        expires: Math.min(30_000, Math.max(1_000, patienceMs)),
        callback: (msg) => {
          onEntry(toLeaseEntry(msg, this.keyPrefix));
          // `pending` counts what the consumer still has to deliver: 0 once the last current value arrived.
          if (msg.info.pending === 0) initialDone();
        },
      });
    } catch (err) {
      throw toBusError(err, BusErrorCode.requestFailed, `watch ${prefix}.>`);
    }
    this.reportStatus(messages, prefix);
    // The initial values arrive in the time of a round trip; should the count it started from never be reached
    // (keys that expired or changed meanwhile), the watch goes on after the time to live (or a request's time-out,
    // in a bucket without one) rather than hold the caller (an instance's start) forever: later values keep
    // arriving either way.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([initial, new Promise<void>((resolve) => (timer = setTimeout(resolve, patienceMs)))]);
    clearTimeout(timer);
    return {
      stop: async () => {
        await messages.close();
      },
    };
  }

  /**
   * Logs what holds a watch's values back: heartbeats missed (the server, or this process, did not keep up) and
   * the ordered consumer created again after them (its values wait for the round trips).
   */
  private reportStatus(messages: ConsumerMessages, prefix: string): void {
    const logger = this.logger;
    if (logger === undefined) return;
    void (async () => {
      for await (const status of messages.status()) {
        if (WATCH_WARN_ON.has(status.type))
          logger.warn('lease watch consumer status', { watch: `${prefix}.>`, ...status });
      }
    })().catch((err: unknown) =>
      logger.warn('lease watch status ended', { watch: `${prefix}.>`, error: ensureError(err).message }),
    );
  }

  private async compareAndSet(what: string, write: () => Promise<number>): Promise<number | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        if (isWrongRevision(err)) return undefined;
        const cause = ensureError(err);
        // nats.js's create() rethrows its first error when the key holds a value: that is a wrong revision too.
        if (isWrongRevision(cause.cause)) return undefined;
        // Refused before anything was stored (a clustered leader setting its count right): safe to send again.
        if (isSequenceResync(cause) && attempt < SEQUENCE_RESYNC_ATTEMPTS) continue;
        throw toBusError(cause, BusErrorCode.requestFailed, what);
      }
    }
  }
}

/** A stored KV message as a lease entry: the key is the subject after `$KV.<bucket>.`. */
function toLeaseEntry(msg: JsMsg, keyPrefix: string): LeaseEntry {
  const operation = msg.headers?.get(KV_OPERATION_HEADER) ?? '';
  const deleted = operation === 'DEL' || operation === 'PURGE';
  return {
    key: msg.subject.slice(keyPrefix.length),
    value: deleted ? undefined : msg.data,
    revision: msg.info.streamSequence,
    storedAtMs: Math.floor(msg.info.timestampNanos / 1e6),
  };
}
