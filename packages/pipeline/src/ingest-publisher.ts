import { createHash } from 'node:crypto';
import type { Bus } from '@throughline/bus';
import { EventBatch, partitionOf, subjects, type Event } from '@throughline/contracts';
import { PipelineError, PipelineErrorCode, ResourceExhaustedError } from './errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './publish-chunks.js';

export interface IngestPublisherOptions {
  bus: Bus;
  /** Partitions of the deployment (`P`). */
  partitionCount: number;
  /** Events per published batch; a partition's batch is sent as soon as it is this full. Default 1000 (at most 65535). */
  maxBatchEvents?: number;
  /** How long a partition's batch waits for more events before it is sent. Default 5 ms. */
  lingerMs?: number;
  /** Events accepted but not yet acknowledged by the stream, over all requests; past it requests are refused with RESOURCE_EXHAUSTED. Default 200000. */
  maxInFlightEvents?: number;
  /**
   * Bytes of the accepted events not yet acknowledged (as received: a request's wire size shared by its events);
   * past it requests are refused with RESOURCE_EXHAUSTED. Default 67108864 (64 MiB).
   */
  maxInFlightBytes?: number;
  /** Retry hint given with RESOURCE_EXHAUSTED. Default 200 ms. */
  retryAfterMs?: number;
  /** Largest encoded message, bytes; a batch that encodes larger is split. Default 900000 (nats-server's 1 MB payload limit less headers). */
  maxMessageBytes?: number;
  /** Traces each publish (see @throughline/telemetry). Default: none. */
  observer?: PublishObserver;
  now?: () => number;
}

/** Hooks a tracer into ingest's publishes without the pipeline depending on an OpenTelemetry SDK. */
export interface PublishObserver {
  /** Captures the calling request's context when its events are accepted (an opaque token). */
  capture(): unknown;
  /** Starts the producer span of one batch; `requests` are the captured tokens of the requests it carries. */
  startPublish(info: {
    subject: string;
    partition: number;
    events: number;
    messages: number;
    requests: unknown[];
  }): {
    headers: Record<string, string>;
    /** Ends the span: with the error, or with what each message was stored as. */
    end(error?: Error, sent?: readonly SentMessage[]): void;
  };
}

/** One message of a published batch as the stream stored it. */
export interface SentMessage {
  batchId: string;
  /** The stream sequence it was stored at. */
  seq: number;
  /** Its events: their positions are `positionOf(seq, 0 … events - 1)`. */
  events: number;
}

interface Waiter {
  token: unknown;
  remaining: number;
  /** The request's bytes per event, counted in flight with each event. */
  bytesPerEvent: number;
  resolve: () => void;
  reject: (err: Error) => void;
  failed: boolean;
}

interface PendingBatch {
  events: Event[];
  /** In-flight bytes of the batch's events. */
  bytes: number;
  /** How many of the batch's events each request contributed. */
  shares: Map<Waiter, number>;
  timer: NodeJS.Timeout | undefined;
  /** When the batch's first event arrived: its `acceptedAtMs`, so ingest-to-commit latency includes the linger. */
  firstAtMs: number;
}

/** The largest number of events in one bus message: positions reserve 16 bits for the index in the batch. */
export const MAX_EVENTS_PER_MESSAGE = 65_535;

/**
 * Ingest's batching publisher: splits accepted events by partition, batches each partition (by size or linger
 * time), publishes each batch with a deterministic `Nats-Msg-Id`, and resolves a request only once every one of
 * its events has been acknowledged by the stream. In-flight events are bounded: over the bound, `publish`
 * throws `ResourceExhaustedError` with a retry hint instead of buffering without limit.
 */
export class IngestPublisher {
  private readonly opts: Required<Omit<IngestPublisherOptions, 'observer'>> &
    Pick<IngestPublisherOptions, 'observer'>;
  private readonly pending = new Map<number, PendingBatch>();
  private readonly inFlightPublishes = new Set<Promise<void>>();
  private inFlight = 0;
  private inFlightBytesCount = 0;
  private refused = 0;
  private closed = false;

  constructor(options: IngestPublisherOptions) {
    this.opts = {
      maxBatchEvents: 1000,
      lingerMs: 5,
      maxInFlightEvents: 200_000,
      maxInFlightBytes: 64 * 1024 * 1024,
      retryAfterMs: 200,
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      now: Date.now,
      ...options,
    };
    if (this.opts.maxBatchEvents < 1 || this.opts.maxBatchEvents > MAX_EVENTS_PER_MESSAGE) {
      throw new RangeError(`maxBatchEvents must be between 1 and ${MAX_EVENTS_PER_MESSAGE}`);
    }
  }

  /** Events accepted and not yet acknowledged by the stream. */
  get inFlightEvents(): number {
    return this.inFlight;
  }

  /** Bytes of the events accepted and not yet acknowledged by the stream. */
  get inFlightBytes(): number {
    return this.inFlightBytesCount;
  }

  /** Calls refused with RESOURCE_EXHAUSTED so far (over the in-flight bound). */
  get refusedCalls(): number {
    return this.refused;
  }

  /**
   * Publishes valid events; resolves when all are durable in the stream. `bytes`: their size as received (the
   * request's), counted against `maxInFlightBytes`; estimated from the events when not given.
   */
  publish(events: readonly Event[], bytes: number = estimateBytes(events)): Promise<void> {
    if (this.closed)
      return Promise.reject(new PipelineError(PipelineErrorCode.unavailable, 'ingest is shutting down'));
    if (events.length === 0) return Promise.resolve();
    const { maxInFlightEvents, maxInFlightBytes, retryAfterMs } = this.opts;
    const overEvents = this.inFlight + events.length > maxInFlightEvents;
    // One request larger than the whole bound still passes when nothing else is in flight, or it never could.
    const overBytes = this.inFlightBytesCount > 0 && this.inFlightBytesCount + bytes > maxInFlightBytes;
    if (overEvents || overBytes) {
      this.refused++;
      const what = overEvents
        ? `${this.inFlight} events in flight (limit ${maxInFlightEvents})`
        : `${this.inFlightBytesCount} bytes in flight (limit ${maxInFlightBytes})`;
      return Promise.reject(
        new ResourceExhaustedError(`ingest has ${what}; retry after ${retryAfterMs} ms`, retryAfterMs),
      );
    }
    this.inFlight += events.length;
    const byPartition = new Map<number, Event[]>();
    for (const event of events) {
      const p = partitionOf(event.accountId, this.opts.partitionCount);
      const list = byPartition.get(p);
      if (list === undefined) byPartition.set(p, [event]);
      else list.push(event);
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        token: this.opts.observer?.capture(),
        remaining: events.length,
        bytesPerEvent: Math.ceil(bytes / events.length),
        resolve,
        reject,
        failed: false,
      };
      for (const [partition, list] of byPartition) this.append(partition, list, waiter);
    });
  }

  /** Sends every pending batch now and waits for all publishes to finish; refuses new work afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    for (const partition of [...this.pending.keys()]) this.flush(partition);
    while (this.inFlightPublishes.size > 0) await Promise.allSettled([...this.inFlightPublishes]);
  }

  private append(partition: number, events: Event[], waiter: Waiter): void {
    let offset = 0;
    while (offset < events.length) {
      let batch = this.pending.get(partition);
      if (batch === undefined) {
        batch = { events: [], bytes: 0, shares: new Map(), timer: undefined, firstAtMs: this.opts.now() };
        this.pending.set(partition, batch);
      }
      const room = this.opts.maxBatchEvents - batch.events.length;
      const take = Math.min(room, events.length - offset);
      for (let i = 0; i < take; i++) batch.events.push(events[offset + i] as Event);
      offset += take;
      batch.shares.set(waiter, (batch.shares.get(waiter) ?? 0) + take);
      batch.bytes += take * waiter.bytesPerEvent;
      this.inFlightBytesCount += take * waiter.bytesPerEvent;
      if (batch.events.length >= this.opts.maxBatchEvents) this.flush(partition);
      else batch.timer ??= setTimeout(() => this.flush(partition), this.opts.lingerMs);
    }
  }

  private flush(partition: number): void {
    const batch = this.pending.get(partition);
    if (batch === undefined) return;
    this.pending.delete(partition);
    if (batch.timer !== undefined) clearTimeout(batch.timer);
    const publishing = this.send(partition, batch).finally(() => this.inFlightPublishes.delete(publishing));
    this.inFlightPublishes.add(publishing);
  }

  /** Encodes a partition's events as one message, or several when one would exceed `maxMessageBytes`. */
  private encode(
    partition: number,
    events: Event[],
    acceptedAtMs: bigint,
  ): { batchId: string; data: Uint8Array; events: number }[] {
    // The SHA-1 of every event id followed by a newline; one update over the joined ids costs less than two per id.
    let ids = '';
    for (const e of events) ids += `${e.eventId}\n`;
    const batchId = `ing-${partition}-${createHash('sha1').update(ids).digest('base64url')}`;
    const data = EventBatch.encode({ batchId, partition, acceptedAtMs, events, redrivenFrom: [] }).finish();
    if (data.length <= this.opts.maxMessageBytes || events.length === 1)
      return [{ batchId, data, events: events.length }];
    const half = Math.ceil(events.length / 2);
    return [
      ...this.encode(partition, events.slice(0, half), acceptedAtMs),
      ...this.encode(partition, events.slice(half), acceptedAtMs),
    ];
  }

  private async send(partition: number, batch: PendingBatch): Promise<void> {
    const { events } = batch;
    const messages = this.encode(partition, events, BigInt(batch.firstAtMs));
    const counts = batch.shares;
    let trace: ReturnType<PublishObserver['startPublish']> | undefined;
    try {
      const subject = subjects.of('ingested', partition);
      trace = this.opts.observer?.startPublish({
        subject,
        partition,
        events: events.length,
        messages: messages.length,
        requests: [...counts.keys()].map((w) => w.token),
      });
      const headers = trace ? { headers: trace.headers } : {};
      const acks = await Promise.all(
        messages.map((m) => this.opts.bus.publish(subject, m.data, { msgId: m.batchId, ...headers })),
      );
      trace?.end(
        undefined,
        messages.map((m, i) => ({ batchId: m.batchId, seq: acks[i]!.seq, events: m.events })),
      );
      this.inFlight -= events.length;
      this.inFlightBytesCount -= batch.bytes;
      for (const [waiter, n] of counts) {
        waiter.remaining -= n;
        if (waiter.remaining === 0 && !waiter.failed) waiter.resolve();
      }
    } catch (err) {
      trace?.end(err instanceof Error ? err : new Error(String(err)));
      this.inFlight -= events.length;
      this.inFlightBytesCount -= batch.bytes;
      for (const waiter of counts.keys()) {
        if (waiter.failed) continue;
        waiter.failed = true;
        waiter.reject(
          new PipelineError(PipelineErrorCode.unavailable, 'publishing to the stream failed', { cause: err }),
        );
      }
    }
  }
}

/** Roughly the encoded size of events (their strings and a fixed share for the numbers and tags). */
function estimateBytes(events: readonly Event[]): number {
  let bytes = 0;
  for (const e of events) {
    bytes += 48 + e.eventId.length + e.accountId.length + e.tenantId.length;
    for (const key in e.attributes) bytes += 8 + key.length + (e.attributes[key]?.length ?? 0);
  }
  return bytes;
}
