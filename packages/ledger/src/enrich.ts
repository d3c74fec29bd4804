import type { AppliedConfig, EnrichedEvent, Event, TenantConfig } from '@throughline/contracts';
import { convert, feeOf, fitsInt64, PARITY_RATE_E9 } from './money.js';

/** What an event carries of its tenant's configuration when no configuration is known for the tenant. */
const UNKNOWN_TENANT_CONFIG: AppliedConfig = Object.freeze({
  version: 0n,
  tenantKnown: false,
  enabled: false,
  baseCurrency: '',
  feeBps: 0,
  dailyDebitLimitMinor: 0n,
  overdraftLimitMinor: 0n,
});

/** The projection of a tenant configuration that travels with each event. */
export function appliedConfigOf(config: TenantConfig | undefined): AppliedConfig {
  if (config === undefined) return UNKNOWN_TENANT_CONFIG;
  return {
    version: config.version,
    tenantKnown: true,
    enabled: config.enabled,
    baseCurrency: config.baseCurrency,
    feeBps: config.feeBps,
    dailyDebitLimitMinor: config.dailyDebitLimitMinor,
    overdraftLimitMinor: config.overdraftLimitMinor,
  };
}

/** The rate (scaled by 1e9) from `currency` to the tenant's base currency, or undefined when none is configured. */
export function rateToBase(config: TenantConfig, currency: string): bigint | undefined {
  if (currency === config.baseCurrency) return PARITY_RATE_E9;
  return config.fxRatesE9[currency];
}

/**
 * Enriches one event with its tenant's configuration: FX to the base currency, the fee, and the config version.
 * Pure: the same event, position and configuration always give the same result.
 *
 * @param applied the `appliedConfigOf(config)` projection, computed once per tenant per batch by the caller.
 */
export function enrichEvent(
  event: Event,
  position: bigint,
  acceptedAtMs: bigint,
  config: TenantConfig | undefined,
  applied: AppliedConfig = appliedConfigOf(config),
): EnrichedEvent {
  const rate = config === undefined ? undefined : rateToBase(config, event.currency);
  const baseAmountMinor = rate === undefined ? 0n : convert(event.amountMinor, rate);
  const feeMinor = rate === undefined || config === undefined ? 0n : feeOf(baseAmountMinor, config.feeBps);
  // A conversion rate too large for the amount: the amounts would not encode (int64 on the wire), and the state
  // stage rejects the event as out of range instead.
  const outOfRange = !fitsInt64(baseAmountMinor) || !fitsInt64(feeMinor);
  return {
    event,
    position,
    acceptedAtMs,
    config: applied,
    baseAmountMinor: outOfRange ? 0n : baseAmountMinor,
    fxKnown: rate !== undefined,
    feeMinor: outOfRange ? 0n : feeMinor,
    redrivenFrom: 0n,
    outOfRange,
  };
}
