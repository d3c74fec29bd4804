import { Direction, type Event } from '@throughline/contracts';

/** Limits ingest enforces on every event; each has a default. */
export interface EventLimits {
  /** Events one request may carry. Default 10000. */
  maxBatchEvents?: number;
  /** Longest `event_id`, bytes. Default 128. */
  maxEventIdBytes?: number;
  /** Longest `account_id`, bytes. Default 128. */
  maxAccountIdBytes?: number;
  /** Longest `tenant_id`, bytes. Default 64. */
  maxTenantIdBytes?: number;
  /** Largest `amount_minor`. Default 1e15 (ten trillion in major units of a two-decimal currency). */
  maxAmountMinor?: bigint;
  /** Most attributes per event. Default 16. */
  maxAttributes?: number;
  /** Longest attribute key, bytes. Default 64. */
  maxAttributeKeyBytes?: number;
  /** Longest attribute value, bytes. Default 256. */
  maxAttributeValueBytes?: number;
  /** Largest sum of attribute key and value bytes per event. Default 2048. */
  maxAttributesBytes?: number;
}

const DEFAULT_LIMITS: Required<EventLimits> = {
  maxBatchEvents: 10_000,
  maxEventIdBytes: 128,
  maxAccountIdBytes: 128,
  maxTenantIdBytes: 64,
  maxAmountMinor: 1_000_000_000_000_000n,
  maxAttributes: 16,
  maxAttributeKeyBytes: 64,
  maxAttributeValueBytes: 256,
  maxAttributesBytes: 2048,
};

/** Which event of a request is bad, which field, and why. */
export interface FieldViolation {
  /** Index of the event in the request; -1 for the request as a whole. */
  index: number;
  /** The field, as named in the proto (`amount_minor`, `attributes`). */
  field: string;
  description: string;
}

/** `events[3].amount_minor: must be positive, got -5` — the message a client sees. */
export function describeViolation(v: FieldViolation): string {
  const where = v.index < 0 ? v.field : `events[${v.index}].${v.field}`;
  return `${where}: ${v.description}`;
}

const CURRENCY = /^[A-Z]{3}$/;
const MAX_TIMESTAMP_MS = 253_402_300_799_999n; // 9999-12-31T23:59:59.999Z

export function resolveLimits(limits: EventLimits): Required<EventLimits> {
  return { ...DEFAULT_LIMITS, ...limits };
}

/** C0 and C1 control characters (NUL among them: PostgreSQL text cannot hold it). Matching them is the point. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** In attribute values tab, line feed and carriage return are text; every other control character is refused. */
// eslint-disable-next-line no-control-regex
const VALUE_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** `U+0000 at character 3`: where the first control character of `value` is. */
function controlAt(value: string, pattern: RegExp): string | undefined {
  const m = pattern.exec(value);
  if (m === null) return undefined;
  return `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at character ${m.index}`;
}

function checkId(index: number, field: string, value: string, maxBytes: number): FieldViolation | undefined {
  if (value.length === 0) return { index, field, description: 'is required' };
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes)
    return { index, field, description: `is ${bytes} bytes, at most ${maxBytes} allowed` };
  const control = controlAt(value, CONTROL);
  if (control !== undefined)
    return { index, field, description: `must not hold control characters, found ${control}` };
  return undefined;
}

function checkAttributes(
  index: number,
  attributes: Record<string, string>,
  l: Required<EventLimits>,
): FieldViolation | undefined {
  const keys = Object.keys(attributes);
  if (keys.length > l.maxAttributes) {
    return {
      index,
      field: 'attributes',
      description: `has ${keys.length} entries, at most ${l.maxAttributes} allowed`,
    };
  }
  let total = 0;
  for (const key of keys) {
    const keyBytes = Buffer.byteLength(key, 'utf8');
    const valueBytes = Buffer.byteLength(attributes[key] ?? '', 'utf8');
    if (keyBytes === 0) return { index, field: 'attributes', description: 'has an empty key' };
    if (keyBytes > l.maxAttributeKeyBytes) {
      return {
        index,
        field: `attributes[${JSON.stringify(key.slice(0, 32))}]`,
        description: `key is ${keyBytes} bytes, at most ${l.maxAttributeKeyBytes} allowed`,
      };
    }
    if (valueBytes > l.maxAttributeValueBytes) {
      return {
        index,
        field: `attributes[${JSON.stringify(key)}]`,
        description: `value is ${valueBytes} bytes, at most ${l.maxAttributeValueBytes} allowed`,
      };
    }
    const keyControl = controlAt(key, CONTROL);
    if (keyControl !== undefined) {
      return {
        index,
        field: `attributes[${JSON.stringify(key)}]`,
        description: `key must not hold control characters, found ${keyControl}`,
      };
    }
    const valueControl = controlAt(attributes[key] ?? '', VALUE_CONTROL);
    if (valueControl !== undefined) {
      return {
        index,
        field: `attributes[${JSON.stringify(key)}]`,
        description: `value must not hold control characters other than tab and line breaks, found ${valueControl}`,
      };
    }
    total += keyBytes + valueBytes;
  }
  if (total > l.maxAttributesBytes) {
    return {
      index,
      field: 'attributes',
      description: `total ${total} bytes, at most ${l.maxAttributesBytes} allowed`,
    };
  }
  return undefined;
}

/** The first violation of one event, or undefined when it is valid. */
export function validateEvent(
  event: Event,
  index: number,
  limits: EventLimits = {},
): FieldViolation | undefined {
  return checkEvent(event, index, resolveLimits(limits));
}

function checkEvent(event: Event, index: number, l: Required<EventLimits>): FieldViolation | undefined {
  return (
    checkId(index, 'event_id', event.eventId, l.maxEventIdBytes) ??
    checkId(index, 'account_id', event.accountId, l.maxAccountIdBytes) ??
    checkId(index, 'tenant_id', event.tenantId, l.maxTenantIdBytes) ??
    (event.direction !== Direction.DIRECTION_DEBIT && event.direction !== Direction.DIRECTION_CREDIT
      ? { index, field: 'direction', description: 'must be DIRECTION_DEBIT or DIRECTION_CREDIT' }
      : undefined) ??
    (event.amountMinor <= 0n
      ? { index, field: 'amount_minor', description: `must be positive, got ${event.amountMinor}` }
      : event.amountMinor > l.maxAmountMinor
        ? {
            index,
            field: 'amount_minor',
            description: `must be at most ${l.maxAmountMinor}, got ${event.amountMinor}`,
          }
        : undefined) ??
    (event.currency.length === 0
      ? { index, field: 'currency', description: 'is required' }
      : !CURRENCY.test(event.currency)
        ? {
            index,
            field: 'currency',
            description: `must be an ISO 4217 code (three capital letters), got ${JSON.stringify(event.currency.slice(0, 16))}`,
          }
        : undefined) ??
    (event.occurredAtMs <= 0n || event.occurredAtMs > MAX_TIMESTAMP_MS
      ? {
          index,
          field: 'occurred_at_ms',
          description: `must be a positive epoch timestamp in milliseconds, got ${event.occurredAtMs}`,
        }
      : undefined) ??
    checkAttributes(index, event.attributes, l)
  );
}

/** The first violation in a request's events (size first), or undefined when every event is valid. */
export function validateEvents(
  events: readonly Event[],
  limits: EventLimits = {},
): FieldViolation | undefined {
  const l = resolveLimits(limits);
  if (events.length === 0) return { index: -1, field: 'events', description: 'must hold at least one event' };
  if (events.length > l.maxBatchEvents) {
    return {
      index: -1,
      field: 'events',
      description: `holds ${events.length} events, at most ${l.maxBatchEvents} allowed per request`,
    };
  }
  for (let i = 0; i < events.length; i++) {
    const violation = checkEvent(events[i] as Event, i, l);
    if (violation !== undefined) return violation;
  }
  return undefined;
}
