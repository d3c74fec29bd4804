/** Mapping between TenantConfig (the wire type) and rows of tenant_configs / tenant_config_history. */
import type { TenantConfig } from '@throughline/contracts';
import { StoreError, StoreErrorCode } from './errors.js';

/** A configuration to store: everything but what the store assigns (version and update time). */
export type TenantConfigInput = Omit<TenantConfig, 'version' | 'updatedAtMs'>;

/** The SELECT list every read uses; int64 columns as text so no global pg type parser gets a say. */
export const CONFIG_COLUMNS = `tenant_id, version::text AS version, enabled, base_currency, fee_bps,
  fx_rates_e9::text AS fx_rates_e9, daily_debit_limit_minor::text AS daily_debit_limit_minor,
  overdraft_limit_minor::text AS overdraft_limit_minor,
  floor(extract(epoch FROM updated_at) * 1000)::int8::text AS updated_ms`;

export interface ConfigRow {
  tenant_id: string;
  version: string;
  enabled: boolean;
  base_currency: string;
  fee_bps: number;
  fx_rates_e9: string;
  daily_debit_limit_minor: string;
  overdraft_limit_minor: string;
  updated_ms: string;
}

export function configFromRow(row: ConfigRow): TenantConfig {
  const rates = JSON.parse(row.fx_rates_e9) as Record<string, unknown>;
  const fxRatesE9: Record<string, bigint> = {};
  for (const [currency, rate] of Object.entries(rates)) {
    if (typeof rate !== 'string' && typeof rate !== 'number') {
      throw new StoreError(
        StoreErrorCode.corruptState,
        `tenant ${row.tenant_id}: rate of ${currency} is not a number`,
      );
    }
    fxRatesE9[currency] = BigInt(rate);
  }
  return {
    tenantId: row.tenant_id,
    version: BigInt(row.version),
    enabled: row.enabled,
    baseCurrency: row.base_currency,
    feeBps: row.fee_bps,
    fxRatesE9,
    dailyDebitLimitMinor: BigInt(row.daily_debit_limit_minor),
    overdraftLimitMinor: BigInt(row.overdraft_limit_minor),
    updatedAtMs: BigInt(row.updated_ms),
  };
}

/** fx rates as the jsonb text stored: values as decimal strings, because int64 does not fit a JSON number. */
export function ratesJson(rates: Readonly<Record<string, bigint>>): string {
  const out: Record<string, string> = {};
  for (const [currency, rate] of Object.entries(rates)) out[currency] = rate.toString();
  return JSON.stringify(out);
}

const CURRENCY = /^[A-Z]{3}$/;
const INT64_MAX = 2n ** 63n - 1n;

/** Rejects what the domain could not use; the check constraints would catch some of it, less readably. */
export function validateConfig(config: TenantConfigInput): void {
  const fail = (why: string): never => {
    throw new StoreError(
      StoreErrorCode.invalidInput,
      `tenant config ${JSON.stringify(config.tenantId)}: ${why}`,
    );
  };
  if (config.tenantId.length === 0) fail('tenant id is empty');
  if (!CURRENCY.test(config.baseCurrency))
    fail(`base currency ${config.baseCurrency} is not an ISO 4217 code`);
  if (!Number.isInteger(config.feeBps) || config.feeBps < 0)
    fail(`fee ${config.feeBps} bps is not a natural number`);
  for (const [currency, rate] of Object.entries(config.fxRatesE9)) {
    if (!CURRENCY.test(currency)) fail(`fx currency ${currency} is not an ISO 4217 code`);
    if (rate <= 0n || rate > INT64_MAX) fail(`fx rate of ${currency} is out of range`);
  }
  if (config.overdraftLimitMinor < 0n || config.overdraftLimitMinor > INT64_MAX)
    fail('overdraft limit out of range');
  if (config.dailyDebitLimitMinor < -INT64_MAX - 1n || config.dailyDebitLimitMinor > INT64_MAX) {
    fail('daily debit limit out of range');
  }
}
