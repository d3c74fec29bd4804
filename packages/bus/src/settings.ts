/** Bus settings with their defaults applied, and the redelivery back-off derived from them. */
import { BusError, BusErrorCode } from './errors.js';
import type { BusSettings } from './types.js';

/** The defaults documented on `BusSettings`. */
export const defaultBusSettings = {
  duplicateWindowMs: 120_000,
  ackWaitMs: 30_000,
  maxDeliver: 10,
  maxAckPending: 64,
  maxMessageBytes: 8 * 1024 * 1024,
  leaseTtlMs: 5_000,
  streamReplicas: 1,
  acceptNats29Replicas: false,
} as const satisfies Required<BusSettings>;

export interface ResolvedBusSettings extends Required<BusSettings> {
  /**
   * Ack wait of each delivery, milliseconds: delivery `n` (1-based) waits `redeliveryBackoffMs[n - 1]`, or the last
   * entry once past the end. Starts at `ackWaitMs`; shorter than `maxDeliver` (nats-server requires it).
   */
  readonly redeliveryBackoffMs: readonly number[];
}

/** JetStream keeps at most five copies of a stream. */
const MAX_REPLICAS = 5;
/** Longest single back-off step, unless `ackWaitMs` itself is longer. */
const MAX_BACKOFF_STEP_MS = 300_000;
/** At most this many distinct back-off steps; later deliveries reuse the last one. */
const MAX_BACKOFF_STEPS = 6;

/** Applies defaults and validates; throws `BusError` (`BUS_INVALID_ARGUMENT`) on a bad value. */
export function resolveBusSettings(settings: BusSettings = {}): ResolvedBusSettings {
  const resolved = {
    duplicateWindowMs: positiveInteger(
      'duplicateWindowMs',
      settings.duplicateWindowMs,
      defaultBusSettings.duplicateWindowMs,
    ),
    ackWaitMs: positiveInteger('ackWaitMs', settings.ackWaitMs, defaultBusSettings.ackWaitMs),
    maxDeliver: positiveInteger('maxDeliver', settings.maxDeliver, defaultBusSettings.maxDeliver),
    maxAckPending: positiveInteger('maxAckPending', settings.maxAckPending, defaultBusSettings.maxAckPending),
    maxMessageBytes: positiveInteger(
      'maxMessageBytes',
      settings.maxMessageBytes,
      defaultBusSettings.maxMessageBytes,
    ),
    leaseTtlMs: positiveInteger('leaseTtlMs', settings.leaseTtlMs, defaultBusSettings.leaseTtlMs),
    streamReplicas: positiveInteger(
      'streamReplicas',
      settings.streamReplicas,
      defaultBusSettings.streamReplicas,
    ),
    acceptNats29Replicas: settings.acceptNats29Replicas ?? defaultBusSettings.acceptNats29Replicas,
  };
  if (resolved.streamReplicas > MAX_REPLICAS)
    throw new BusError(
      BusErrorCode.invalidArgument,
      `bus setting streamReplicas must be at most ${MAX_REPLICAS} (JetStream's limit), got ${resolved.streamReplicas}`,
    );
  return { ...resolved, redeliveryBackoffMs: redeliveryBackoffMs(resolved.ackWaitMs, resolved.maxDeliver) };
}

/** `[ackWait, 2·ackWait, 4·ackWait, …]`, capped, with fewer entries than `maxDeliver` (empty when it is 1). */
export function redeliveryBackoffMs(ackWaitMs: number, maxDeliver: number): number[] {
  const steps = Math.min(maxDeliver - 1, MAX_BACKOFF_STEPS);
  const cap = Math.max(ackWaitMs, MAX_BACKOFF_STEP_MS);
  const backoff: number[] = [];
  for (let i = 0; i < steps; i++) backoff.push(Math.min(ackWaitMs * 2 ** i, cap));
  return backoff;
}

/** The ack wait of delivery number `deliveryCount` (1-based). */
export function ackWaitForDelivery(settings: ResolvedBusSettings, deliveryCount: number): number {
  const backoff = settings.redeliveryBackoffMs;
  if (backoff.length === 0) return settings.ackWaitMs;
  return backoff[Math.min(deliveryCount, backoff.length) - 1] ?? settings.ackWaitMs;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new BusError(
      BusErrorCode.invalidArgument,
      `bus setting ${name} must be a positive integer, got ${value}`,
    );
  }
  return value;
}
