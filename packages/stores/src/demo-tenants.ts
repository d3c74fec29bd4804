/**
 * The demo's five tenants. Rates convert minor units of a currency to minor units of the tenant's base currency
 * (base_minor = amount_minor * rate_e9 / 1e9), so JPY — which has no minor digits — gets a rate about 100× smaller
 * than its major-unit rate would suggest: 1 yen ≈ 0.61 euro cents → 610_000_000.
 */
import type { TenantConfigInput } from './tenant-config-rows.js';

const E9 = 1_000_000_000n;

const TO_EUR: Record<string, bigint> = {
  EUR: E9,
  USD: 920_000_000n,
  GBP: 1_170_000_000n,
  JPY: 610_000_000n,
  CHF: 1_050_000_000n,
};
const TO_USD: Record<string, bigint> = {
  USD: E9,
  EUR: 1_090_000_000n,
  GBP: 1_270_000_000n,
  JPY: 670_000_000n,
  CHF: 1_130_000_000n,
};
const TO_GBP: Record<string, bigint> = {
  GBP: E9,
  EUR: 860_000_000n,
  USD: 790_000_000n,
  JPY: 530_000_000n,
  CHF: 890_000_000n,
};

export const DEMO_TENANTS: readonly TenantConfigInput[] = [
  {
    tenantId: 'tenant-1',
    enabled: true,
    baseCurrency: 'EUR',
    feeBps: 10,
    fxRatesE9: TO_EUR,
    dailyDebitLimitMinor: 500_000n, // 5,000.00 EUR
    overdraftLimitMinor: 100_000n, // 1,000.00 EUR
  },
  {
    tenantId: 'tenant-2',
    enabled: true,
    baseCurrency: 'USD',
    feeBps: 25,
    fxRatesE9: TO_USD,
    dailyDebitLimitMinor: 1_000_000n,
    overdraftLimitMinor: 0n,
  },
  {
    tenantId: 'tenant-3',
    enabled: true,
    baseCurrency: 'GBP',
    feeBps: 50,
    fxRatesE9: TO_GBP,
    dailyDebitLimitMinor: 200_000n,
    overdraftLimitMinor: 50_000n,
  },
  {
    tenantId: 'tenant-4',
    enabled: true,
    baseCurrency: 'EUR',
    feeBps: 0,
    fxRatesE9: TO_EUR,
    dailyDebitLimitMinor: 0n, // no daily limit
    overdraftLimitMinor: 1_000_000n,
  },
  {
    tenantId: 'tenant-5',
    enabled: true,
    baseCurrency: 'USD',
    feeBps: 15,
    fxRatesE9: TO_USD,
    dailyDebitLimitMinor: 100_000n,
    overdraftLimitMinor: 25_000n,
  },
];
