/**
 * Migration 001: tenant configuration (current + history), the ledger and account balances.
 *
 * Kept as a TypeScript string so it ships inside dist/ and survives bundling; the SQL is plain and can be pasted
 * into psql as it is.
 */
export const schema001 = /* sql */ `
CREATE SEQUENCE tenant_config_version_seq;

CREATE TABLE tenant_configs (
  tenant_id               text        PRIMARY KEY,
  version                 bigint      NOT NULL,
  enabled                 boolean     NOT NULL DEFAULT true,
  base_currency           char(3)     NOT NULL,
  fee_bps                 int         NOT NULL DEFAULT 0 CHECK (fee_bps >= 0),
  -- ISO code -> rate_e9 as a decimal string (int64 does not fit a JSON number).
  fx_rates_e9             jsonb       NOT NULL DEFAULT '{}'::jsonb,
  daily_debit_limit_minor bigint      NOT NULL DEFAULT 0,
  overdraft_limit_minor   bigint      NOT NULL DEFAULT 0 CHECK (overdraft_limit_minor >= 0),
  updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenant_config_history (
  tenant_id               text        NOT NULL,
  version                 bigint      NOT NULL,
  enabled                 boolean     NOT NULL,
  base_currency           char(3)     NOT NULL,
  fee_bps                 int         NOT NULL,
  fx_rates_e9             jsonb       NOT NULL,
  daily_debit_limit_minor bigint      NOT NULL,
  overdraft_limit_minor   bigint      NOT NULL,
  updated_at              timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, version)
);

-- Every change of a tenant's current configuration is announced, whoever made it (the repository or psql).
-- NOTIFY is delivered at COMMIT, so listeners never see a version they cannot read yet.
CREATE FUNCTION tl_notify_tenant_config() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tl_config', NEW.tenant_id || ':' || NEW.version);
  RETURN NULL;
END
$$;

CREATE TRIGGER tenant_configs_notify
  AFTER INSERT OR UPDATE ON tenant_configs
  FOR EACH ROW EXECUTE FUNCTION tl_notify_tenant_config();

CREATE TABLE ledger (
  event_id            text        PRIMARY KEY,
  partition           int         NOT NULL,
  account_id          text        NOT NULL,
  tenant_id           text        NOT NULL,
  position            bigint      NOT NULL,
  outcome             text        NOT NULL CHECK (outcome IN ('APPLIED', 'REJECTED')),
  reject_reason       text,
  direction           text        NOT NULL CHECK (direction IN ('DEBIT', 'CREDIT')),
  amount_minor        bigint      NOT NULL,
  currency            char(3)     NOT NULL,
  delta_minor         bigint      NOT NULL,
  fee_minor           bigint      NOT NULL,
  balance_after_minor bigint      NOT NULL,
  config_version      bigint      NOT NULL,
  occurred_at         timestamptz NOT NULL,
  accepted_at         timestamptz NOT NULL,
  committed_at        timestamptz NOT NULL DEFAULT now()
);
-- Not unique on purpose: a duplicate position must not wedge the writer; verifyLedger reports it instead.
CREATE INDEX ledger_account_position_idx ON ledger (account_id, position);
CREATE INDEX ledger_partition_idx ON ledger (partition);

CREATE TABLE balances (
  account_id       text        PRIMARY KEY,
  tenant_id        text        NOT NULL,
  partition        int         NOT NULL,
  balance_minor    bigint      NOT NULL,
  position         bigint      NOT NULL,
  debits_day       int         NOT NULL,
  debits_day_minor bigint      NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT now()
);
`;
