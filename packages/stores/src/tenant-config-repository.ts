/**
 * Tenant configuration in PostgreSQL, as the config service uses it: read the current set, put a new version,
 * and hear about every change.
 */
import type { TenantConfig } from '@throughline/contracts';
import type pg from 'pg';
import { DEMO_TENANTS } from './demo-tenants.js';
import { StoreErrorCode, toStoreError } from './errors.js';
import { numberArray, textArray } from './pg-arrays.js';
import { listenForConfigChanges, type ConfigListenOptions } from './tenant-config-listener.js';
import {
  CONFIG_COLUMNS,
  configFromRow,
  ratesJson,
  validateConfig,
  type ConfigRow,
  type TenantConfigInput,
} from './tenant-config-rows.js';

export interface TenantConfigList {
  /** Every tenant's current configuration, ordered by tenant id. */
  configs: TenantConfig[];
  /** The largest version among them (0n when there are none). */
  version: bigint;
}

/** Called with the tenant and the version of every committed change. */
export type ConfigChangeListener = (tenantId: string, version: bigint) => void;

export interface TenantConfigRepository {
  list(): Promise<TenantConfigList>;
  /** The tenant's current configuration, or undefined when it has none. */
  get(tenantId: string): Promise<TenantConfig | undefined>;
  /**
   * Stores a new version of a tenant's configuration: the version is the next value of
   * `tenant_config_version_seq`, the current row is upserted, a history row is added, and listeners are notified —
   * all in one transaction. `changedBy` (who made the change) is kept with the history row; without it, the
   * database role. Returns the stored configuration.
   */
  put(config: TenantConfigInput, opts?: { changedBy?: string }): Promise<TenantConfig>;
  /**
   * Listens for changes on a dedicated connection (LISTEN tl_config), reconnecting and listening again when it
   * drops. Resolves once listening; the returned function stops.
   */
  listen(onChange: ConfigChangeListener, opts?: ConfigListenOptions): Promise<() => Promise<void>>;
  /** Adds the demo tenants `tenant-1`..`tenant-5` that do not exist yet; returns how many were added. */
  seedDemoTenants(): Promise<number>;
}

const LIST_SQL = `SELECT ${CONFIG_COLUMNS} FROM tenant_configs ORDER BY tenant_id`;
const GET_SQL = `SELECT ${CONFIG_COLUMNS} FROM tenant_configs WHERE tenant_id = $1`;

/*
 * One statement: the version is drawn once (a volatile CTE is evaluated once), the history row always lands, and the
 * current row only moves forward, so two racing puts for one tenant leave the larger version current.
 */
const PUT_SQL = `
WITH v AS (SELECT nextval('tenant_config_version_seq') AS version, now() AS updated_at),
cur AS (
  INSERT INTO tenant_configs AS c (tenant_id, version, enabled, base_currency, fee_bps, fx_rates_e9,
                                   daily_debit_limit_minor, overdraft_limit_minor, updated_at)
  SELECT $1::text, v.version, $2::bool, $3::text, $4::int, $5::jsonb, $6::int8, $7::int8, v.updated_at FROM v
  ON CONFLICT (tenant_id) DO UPDATE
    SET version = EXCLUDED.version, enabled = EXCLUDED.enabled, base_currency = EXCLUDED.base_currency,
        fee_bps = EXCLUDED.fee_bps, fx_rates_e9 = EXCLUDED.fx_rates_e9,
        daily_debit_limit_minor = EXCLUDED.daily_debit_limit_minor,
        overdraft_limit_minor = EXCLUDED.overdraft_limit_minor, updated_at = EXCLUDED.updated_at
    WHERE c.version < EXCLUDED.version
), hist AS (
  INSERT INTO tenant_config_history (tenant_id, version, enabled, base_currency, fee_bps, fx_rates_e9,
                                     daily_debit_limit_minor, overdraft_limit_minor, updated_at, changed_by)
  SELECT $1::text, v.version, $2::bool, $3::text, $4::int, $5::jsonb, $6::int8, $7::int8, v.updated_at,
         coalesce($8::text, current_user) FROM v
)
SELECT version::text AS version, floor(extract(epoch FROM updated_at) * 1000)::int8::text AS updated_ms FROM v`;

/* Only tenants that do not exist get a version (and a history row); concurrent seeders cannot add one twice. */
const SEED_SQL = `
WITH ins AS (
  INSERT INTO tenant_configs (tenant_id, version, enabled, base_currency, fee_bps, fx_rates_e9,
                              daily_debit_limit_minor, overdraft_limit_minor)
  SELECT u.tenant_id, nextval('tenant_config_version_seq'), u.enabled, u.base_currency, u.fee_bps, u.fx_rates_e9,
         u.daily_debit_limit_minor, u.overdraft_limit_minor
  FROM unnest($1::text[], $2::bool[], $3::text[], $4::int[], $5::jsonb[], $6::int8[], $7::int8[])
       AS u(tenant_id, enabled, base_currency, fee_bps, fx_rates_e9, daily_debit_limit_minor, overdraft_limit_minor)
  ON CONFLICT (tenant_id) DO NOTHING
  RETURNING *
)
INSERT INTO tenant_config_history (tenant_id, version, enabled, base_currency, fee_bps, fx_rates_e9,
                                   daily_debit_limit_minor, overdraft_limit_minor, updated_at)
SELECT tenant_id, version, enabled, base_currency, fee_bps, fx_rates_e9, daily_debit_limit_minor,
       overdraft_limit_minor, updated_at
FROM ins`;

export function createTenantConfigRepository(pool: pg.Pool): TenantConfigRepository {
  return {
    async list() {
      try {
        const res = await pool.query<ConfigRow>(LIST_SQL);
        const configs = res.rows.map(configFromRow);
        let version = 0n;
        for (const c of configs) if (c.version > version) version = c.version;
        return { configs, version };
      } catch (err) {
        throw toStoreError(StoreErrorCode.queryFailed, 'cannot list tenant configs', err);
      }
    },

    async get(tenantId) {
      try {
        const res = await pool.query<ConfigRow>(GET_SQL, [tenantId]);
        const row = res.rows[0];
        return row === undefined ? undefined : configFromRow(row);
      } catch (err) {
        throw toStoreError(StoreErrorCode.queryFailed, `cannot read the config of ${tenantId}`, err);
      }
    },

    async put(config, opts = {}) {
      validateConfig(config);
      try {
        const res = await pool.query<{ version: string; updated_ms: string }>(PUT_SQL, [
          config.tenantId,
          config.enabled,
          config.baseCurrency,
          config.feeBps,
          ratesJson(config.fxRatesE9),
          config.dailyDebitLimitMinor.toString(),
          config.overdraftLimitMinor.toString(),
          opts.changedBy ?? null,
        ]);
        const row = res.rows[0];
        if (row === undefined) throw new Error('the put returned no version');
        return {
          tenantId: config.tenantId,
          version: BigInt(row.version),
          enabled: config.enabled,
          baseCurrency: config.baseCurrency,
          feeBps: config.feeBps,
          fxRatesE9: { ...config.fxRatesE9 },
          dailyDebitLimitMinor: config.dailyDebitLimitMinor,
          overdraftLimitMinor: config.overdraftLimitMinor,
          updatedAtMs: BigInt(row.updated_ms),
        };
      } catch (err) {
        throw toStoreError(StoreErrorCode.queryFailed, `cannot store the config of ${config.tenantId}`, err);
      }
    },

    listen: (onChange, opts) => listenForConfigChanges(pool, onChange, opts),

    async seedDemoTenants() {
      const t = DEMO_TENANTS;
      try {
        const res = await pool.query(SEED_SQL, [
          textArray(t.map((c) => c.tenantId)),
          `{${t.map((c) => c.enabled).join(',')}}`,
          textArray(t.map((c) => c.baseCurrency)),
          numberArray(t.map((c) => c.feeBps)),
          textArray(t.map((c) => ratesJson(c.fxRatesE9))),
          numberArray(t.map((c) => c.dailyDebitLimitMinor)),
          numberArray(t.map((c) => c.overdraftLimitMinor)),
        ]);
        return res.rowCount ?? 0;
      } catch (err) {
        throw toStoreError(StoreErrorCode.queryFailed, 'cannot seed the demo tenants', err);
      }
    },
  };
}
