import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Direction, PublishBatchRequest, type Event } from '@throughline/contracts';
import {
  describeViolation,
  maxEventBytes,
  maxRequestBytes,
  scanPublishRequest,
  validateEvent,
} from '../src/index.js';

/** An event with every field at the limit of validation. */
const largest: Event = {
  eventId: 'e'.repeat(128),
  accountId: 'a'.repeat(128),
  tenantId: 't'.repeat(64),
  direction: Direction.DIRECTION_CREDIT,
  amountMinor: 1_000_000_000_000_000n,
  currency: 'EUR',
  occurredAtMs: 253_402_300_799_999n,
  // 16 entries of a 64-byte key and a 64-byte value: 2,048 bytes in all.
  attributes: Object.fromEntries(
    Array.from({ length: 16 }, (_, i) => [`${i}`.padStart(64, 'k'), 'v'.repeat(64)]),
  ),
};

const encode = (events: Event[]): Uint8Array => PublishBatchRequest.encode({ events }).finish();
const described = (bytes: Uint8Array, limits = {}) => {
  const v = scanPublishRequest(bytes, limits);
  return v && describeViolation(v);
};

describe('scanPublishRequest', () => {
  it('lets through every request that can pass validation, the largest included', () => {
    expect(validateEvent(largest, 0)).toBeUndefined();
    const one = encode([largest]);
    expect(one.length).toBeLessThanOrEqual(maxRequestBytes({ maxBatchEvents: 1 }));
    expect(scanPublishRequest(one)).toBeUndefined();
    expect(scanPublishRequest(encode(Array.from({ length: 3 }, () => largest)), { maxBatchEvents: 3 })).toBe(
      undefined,
    );
  });

  it('counts events before anything is decoded: 2 MB of empty events is refused unread', () => {
    const empties = new Uint8Array(2_000_000);
    for (let i = 0; i < empties.length; i += 2) empties[i] = 0x0a; // field 1, length 0
    expect(described(empties)).toBe('events: holds 1000000 events, at most 10000 allowed per request');
  });

  it('refuses an event encoded larger than any valid one, naming it', () => {
    const big = { ...largest, attributes: { ...largest.attributes, extra: 'x'.repeat(200) } };
    expect(described(encode([largest, big]))).toBe(
      `events[1].event: is ${encode([big]).length - 3} bytes encoded, at most ${maxEventBytes()} allowed`,
    );
  });

  it('refuses malformed bytes with a reason, and never throws', () => {
    expect(described(new Uint8Array([0x0a, 0x05, 0x01]))).toMatch(
      /^request: .*field 1 at byte 1 runs past the end$/,
    );
    expect(described(new Uint8Array([0x0b]))).toMatch(/unsupported wire type 3/);
    expect(described(new Uint8Array([0x08, 0xff, 0xff]))).toMatch(/truncated varint/);
    // Any bytes: the scan answers (the events' own bytes are left to the decoder, whose throw ingest catches).
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const violation = scanPublishRequest(bytes, { maxBatchEvents: 3 });
        if (violation === undefined) {
          let decoded: PublishBatchRequest | undefined;
          try {
            decoded = PublishBatchRequest.decode(bytes);
          } catch {
            return;
          }
          expect(decoded.events.length).toBeLessThanOrEqual(3);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});
