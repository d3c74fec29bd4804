import type { Bus } from '@throughline/bus';
import type { TurnContext } from '@throughline/runtime';

/**
 * Largest encoded message the stages publish, bytes. nats-server accepts 1 MB payloads by default
 * (`max_payload`); the rest is left for headers.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 900_000;

/** A turn's output and how to cut it into messages. */
export interface ChunkOptions<T> {
  /** The ids' prefix: the producing stage, partition and lease epoch (`enr-3-e7`). */
  idPrefix: string;
  /** The stream sequences of the turn's first and last input messages, part of every id. */
  firstSeq: number;
  lastSeq: number;
  items: T[];
  maxItems: number;
  /** Default `DEFAULT_MAX_MESSAGE_BYTES`. */
  maxBytes?: number;
  encode: (items: T[], batchId: string) => Uint8Array;
}

/**
 * Splits `items` into encoded messages of at most `maxItems` items and `maxBytes` bytes each (halving a chunk that
 * encodes too large). Ids are deterministic in the input (`<prefix>:<firstSeq>-<lastSeq>:<chunk>`), so replaying
 * a turn yields the same messages, which the stream's duplicate window drops.
 */
export function encodeChunks<T>(opts: ChunkOptions<T>): { batchId: string; data: Uint8Array }[] {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const out: { batchId: string; data: Uint8Array }[] = [];
  const emit = (items: T[]): void => {
    const batchId = `${opts.idPrefix}:${opts.firstSeq}-${opts.lastSeq}:${out.length}`;
    const data = opts.encode(items, batchId);
    if (data.length > maxBytes && items.length > 1) {
      const half = Math.ceil(items.length / 2);
      emit(items.slice(0, half));
      emit(items.slice(half));
      return;
    }
    out.push({ batchId, data });
  };
  for (let start = 0; start < opts.items.length; start += opts.maxItems)
    emit(opts.items.slice(start, start + opts.maxItems));
  return out;
}

/**
 * Publishes a turn's output as messages from `encodeChunks`, all sent at once (in order on one connection) and
 * awaited together: one round trip for the whole turn. Returns how many messages were published.
 */
export async function publishChunks<T>(
  opts: ChunkOptions<T> & {
    bus: Bus;
    subject: string;
    /** The turn publishing: its trace context goes on the messages and the publish acks are booked as `nats`. */
    ctx?: TurnContext;
  },
): Promise<number> {
  const chunks = encodeChunks(opts);
  const headers = opts.ctx?.outgoingHeaders ? { headers: opts.ctx.outgoingHeaders } : {};
  const send = () =>
    Promise.all(chunks.map((c) => opts.bus.publish(opts.subject, c.data, { msgId: c.batchId, ...headers })));
  await (opts.ctx ? opts.ctx.wait('nats', send, chunks.length) : send());
  return chunks.length;
}
