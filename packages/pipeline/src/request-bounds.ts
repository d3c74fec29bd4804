/**
 * Bounds on a PublishBatchRequest read from its wire bytes, before it is decoded: decoding allocates per event
 * (2 MB of empty events became ~150 MB of heap), so the event count and each event's encoded size are checked on
 * the bytes first. A scan reads only the request's top-level tags and lengths.
 */
import { resolveLimits, type EventLimits, type FieldViolation } from './validation.js';

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** A length-delimited field of `bytes` bytes, with its tag (field numbers below 16). */
function delimited(bytes: number): number {
  return 1 + varintSize(bytes) + bytes;
}

/**
 * The largest encoding of an event that can pass validation under `limits` (every string at its limit, every
 * number at ten bytes, the attribute map full). An event encoded larger is refused unread.
 */
export function maxEventBytes(limits: EventLimits = {}): number {
  const l = resolveLimits(limits);
  const scalar = 1 + 10;
  // Attribute entries: each is a nested message of a key and a value field; their content is bounded in total.
  const entryOverhead = 1 + varintSize(l.maxAttributeKeyBytes + l.maxAttributeValueBytes + 6) + 2 * (1 + 2);
  return (
    delimited(l.maxEventIdBytes) +
    delimited(l.maxAccountIdBytes) +
    delimited(l.maxTenantIdBytes) +
    scalar + // direction
    scalar + // amount_minor
    delimited(3) + // currency
    scalar + // occurred_at_ms
    l.maxAttributesBytes +
    l.maxAttributes * entryOverhead
  );
}

/** The largest request that can pass validation: `grpc.max_receive_message_length` for ingest. */
export function maxRequestBytes(limits: EventLimits = {}): number {
  const l = resolveLimits(limits);
  return l.maxBatchEvents * delimited(maxEventBytes(limits));
}

/**
 * Reads a PublishBatchRequest's top-level fields without decoding them: the first violation of the event count
 * or of an event's encoded size, a malformed encoding, or undefined when the request may be decoded.
 */
export function scanPublishRequest(bytes: Uint8Array, limits: EventLimits = {}): FieldViolation | undefined {
  const l = resolveLimits(limits);
  const maxEvent = maxEventBytes(limits);
  const malformed = (why: string): FieldViolation => ({
    index: -1,
    field: 'request',
    description: `is not a valid PublishBatchRequest encoding: ${why}`,
  });
  let pos = 0;
  const varint = (): number | undefined => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= bytes.length) return undefined;
      const b = bytes[pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
    return undefined;
  };
  let events = 0;
  while (pos < bytes.length) {
    const tag = varint();
    if (tag === undefined) return malformed(`truncated tag at byte ${pos}`);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (wireType === 2) {
      const at = pos;
      const length = varint();
      if (length === undefined || pos + length > bytes.length)
        return malformed(`field ${field} at byte ${at} runs past the end`);
      if (field === 1) {
        if (length > maxEvent)
          return {
            index: events,
            field: 'event',
            description: `is ${length} bytes encoded, at most ${maxEvent} allowed`,
          };
        events++;
      }
      pos += length;
    } else if (wireType === 0) {
      if (varint() === undefined) return malformed(`truncated varint of field ${field}`);
    } else if (wireType === 1 || wireType === 5) {
      pos += wireType === 1 ? 8 : 4;
      if (pos > bytes.length) return malformed(`field ${field} runs past the end`);
    } else {
      return malformed(`unsupported wire type ${wireType} of field ${field}`);
    }
  }
  // Counted to the end (a scan costs ~0.03 µs an event): the message names the request's real size.
  if (events > l.maxBatchEvents)
    return {
      index: -1,
      field: 'events',
      description: `holds ${events} events, at most ${l.maxBatchEvents} allowed per request`,
    };
  return undefined;
}
