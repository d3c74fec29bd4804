import { describe, expect, it } from 'vitest';
import { Direction, type Event } from '@throughline/contracts';
import { describeViolation, validateEvents } from '../src/validation.js';

const good: Event = {
  eventId: 'e-1',
  accountId: 'acc-1',
  tenantId: 'tenant-1',
  direction: Direction.DIRECTION_DEBIT,
  amountMinor: 100n,
  currency: 'EUR',
  occurredAtMs: 1_700_000_000_000n,
  attributes: { channel: 'card' },
};

function violationOf(patch: Partial<Event>, index = 2): string | undefined {
  const events = [good, good, { ...good, ...patch }];
  const v = validateEvents(events);
  return v && describeViolation(v).replace(`events[${index}].`, '');
}

describe('validateEvents', () => {
  it('accepts valid events', () => {
    expect(validateEvents([good, { ...good, direction: Direction.DIRECTION_CREDIT }])).toBeUndefined();
  });

  it.each([
    [{ eventId: '' }, 'event_id: is required'],
    [{ accountId: 'x'.repeat(129) }, 'account_id: is 129 bytes, at most 128 allowed'],
    [{ tenantId: '' }, 'tenant_id: is required'],
    [
      { direction: Direction.DIRECTION_UNSPECIFIED },
      'direction: must be DIRECTION_DEBIT or DIRECTION_CREDIT',
    ],
    [{ amountMinor: 0n }, 'amount_minor: must be positive, got 0'],
    [{ amountMinor: -5n }, 'amount_minor: must be positive, got -5'],
    [{ amountMinor: 10n ** 16n }, 'amount_minor: must be at most 1000000000000000, got 10000000000000000'],
    [{ currency: '' }, 'currency: is required'],
    [{ currency: 'eur' }, 'currency: must be an ISO 4217 code (three capital letters), got "eur"'],
    [{ occurredAtMs: 0n }, 'occurred_at_ms: must be a positive epoch timestamp in milliseconds, got 0'],
    [{ attributes: { '': 'x' } }, 'attributes: has an empty key'],
    [{ attributes: { k: 'v'.repeat(257) } }, 'attributes["k"]: value is 257 bytes, at most 256 allowed'],
    [{ eventId: 'e\u0000' }, 'event_id: must not hold control characters, found U+0000 at character 1'],
    [{ accountId: 'a\nb' }, 'account_id: must not hold control characters, found U+000A at character 1'],
    [{ tenantId: '\u009bt' }, 'tenant_id: must not hold control characters, found U+009B at character 0'],
    [
      { attributes: { 'k\u0007': 'v' } },
      'attributes["k\\u0007"]: key must not hold control characters, found U+0007 at character 1',
    ],
    [
      { attributes: { k: 'a\u0000' } },
      'attributes["k"]: value must not hold control characters other than tab and line breaks, found U+0000 at character 1',
    ],
  ])('names the event and the field: %o', (patch, message) => {
    expect(violationOf(patch)).toBe(message);
  });

  it('accepts any other text: non-ASCII ids and keys, tabs and line breaks in values', () => {
    expect(
      validateEvents([
        {
          ...good,
          eventId: 'évènement-ü-🎉',
          accountId: '口座-1',
          attributes: { 'clé-ß': 'line 1\r\nline\t2', emoji: '🎉' },
        },
      ]),
    ).toBeUndefined();
  });

  it('bounds the attribute map', () => {
    const attributes = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(violationOf({ attributes })).toBe('attributes: has 17 entries, at most 16 allowed');
    const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'v'.repeat(250)]));
    expect(violationOf({ attributes: big })).toMatch(/^attributes: total \d+ bytes, at most 2048 allowed$/);
  });

  it('refuses empty and oversize requests as a whole', () => {
    expect(validateEvents([])).toMatchObject({ index: -1, field: 'events' });
    const v = validateEvents([good, good, good], { maxBatchEvents: 2 });
    expect(v && describeViolation(v)).toBe('events: holds 3 events, at most 2 allowed per request');
  });

  it('reports the first bad event', () => {
    const v = validateEvents([good, { ...good, currency: 'x' }, { ...good, amountMinor: -1n }]);
    expect(v).toMatchObject({ index: 1, field: 'currency' });
  });
});
