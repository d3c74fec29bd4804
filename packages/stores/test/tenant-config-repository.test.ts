import { beforeAll, describe, expect, it } from 'vitest';
import {
  createTenantConfigRepository,
  DEMO_TENANTS,
  isStoreError,
  StoreErrorCode,
  type StoreError,
  type TenantConfigInput,
  type TenantConfigRepository,
} from '../src/index.js';
import { useMigratedDatabase } from './support.js';

const db = useMigratedDatabase();
let repo: TenantConfigRepository;
beforeAll(() => {
  repo = createTenantConfigRepository(db.pool);
});

const acme = (over: Partial<TenantConfigInput> = {}): TenantConfigInput => ({
  tenantId: 'acme',
  enabled: true,
  baseCurrency: 'EUR',
  feeBps: 12,
  fxRatesE9: { EUR: 1_000_000_000n, USD: 920_000_000n, XTS: 2n ** 63n - 1n },
  dailyDebitLimitMinor: 2n ** 62n,
  overdraftLimitMinor: 50_000n,
  ...over,
});

/** Resolves with the first change that `match` accepts. */
function waitFor<T>(subscribe: (push: (value: T) => void) => void, match: (value: T) => boolean): Promise<T> {
  return new Promise((resolve) => subscribe((value) => match(value) && resolve(value)));
}

describe('TenantConfigRepository', () => {
  it('puts, gets and lists with increasing versions, keeping the history', async () => {
    const first = await repo.put(acme());
    const second = await repo.put(acme({ feeBps: 20 }), { changedBy: 'token:ops' });
    const other = await repo.put(acme({ tenantId: 'zeta', baseCurrency: 'GBP', enabled: false }));
    expect(second.version).toBeGreaterThan(first.version);
    expect(other.version).toBeGreaterThan(second.version);
    expect(await repo.get('acme')).toEqual(second);
    expect(second).toMatchObject({ ...acme({ feeBps: 20 }), version: second.version });
    expect(Number(second.updatedAtMs)).toBeGreaterThan(Date.now() - 60_000);
    expect(await repo.get('nobody')).toBeUndefined();
    const list = await repo.list();
    expect(list.configs.map((c) => c.tenantId)).toEqual(['acme', 'zeta']);
    expect(list.version).toBe(other.version);
    const history = await db.pool.query<{ version: string; fee_bps: number; changed_by: string }>(
      `SELECT version::text, fee_bps, changed_by FROM tenant_config_history WHERE tenant_id = 'acme' ORDER BY version`,
    );
    const role = (await db.pool.query<{ r: string }>('SELECT current_user AS r')).rows[0]!.r;
    expect(history.rows).toEqual([
      { version: first.version.toString(), fee_bps: 12, changed_by: role },
      { version: second.version.toString(), fee_bps: 20, changed_by: 'token:ops' },
    ]);
    const stored = await db.pool.query(`SELECT fx_rates_e9 FROM tenant_configs WHERE tenant_id = 'acme'`);
    expect(stored.rows[0].fx_rates_e9).toEqual({
      EUR: '1000000000',
      USD: '920000000',
      XTS: '9223372036854775807',
    });
  });

  it('leaves the largest version current when puts for one tenant race', async () => {
    const puts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => repo.put(acme({ tenantId: 'racy', feeBps: i }))),
    );
    const newest = puts.reduce((a, b) => (b.version > a.version ? b : a));
    expect(await repo.get('racy')).toEqual(newest);
    const history = await db.pool.query(
      `SELECT count(*)::int AS n FROM tenant_config_history WHERE tenant_id = 'racy'`,
    );
    expect(history.rows[0].n).toBe(8);
  });

  it('rejects configurations the domain could not use', async () => {
    for (const bad of [
      acme({ tenantId: '' }),
      acme({ baseCurrency: 'eur' }),
      acme({ feeBps: -1 }),
      acme({ fxRatesE9: { USD: 0n } }),
      acme({ overdraftLimitMinor: -1n }),
    ]) {
      const err: unknown = await repo.put(bad).catch((e: unknown) => e);
      expect(isStoreError(err, StoreErrorCode.invalidInput)).toBe(true);
    }
  });

  it('notifies listeners of every change with its version', async () => {
    const heard: [string, bigint][] = [];
    let push: ((v: [string, bigint]) => void) | undefined;
    const stop = await repo.listen((tenantId, version) => {
      heard.push([tenantId, version]);
      push?.([tenantId, version]);
    });
    try {
      const done = waitFor<[string, bigint]>(
        (p) => (push = p),
        ([t]) => t === 'tenant:with:colons',
      );
      const a = await repo.put(acme({ feeBps: 30 }));
      const b = await repo.put(acme({ tenantId: 'tenant:with:colons' }));
      await done;
      expect(heard).toEqual([
        ['acme', a.version],
        ['tenant:with:colons', b.version],
      ]);
    } finally {
      await stop();
    }
  });

  it('listens again after its connection is killed, and asks for a resync', async () => {
    const errors: StoreError[] = [];
    let push: ((v: string) => void) | undefined;
    let resynced: () => void = () => undefined;
    const resync = new Promise<void>((resolve) => (resynced = resolve));
    const stop = await repo.listen((tenantId) => push?.(tenantId), {
      reconnectDelayMs: 50,
      onResync: () => resynced(),
      onError: (err) => errors.push(err),
    });
    try {
      const killed = await db.pool.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE query = 'LISTEN tl_config' AND datname = current_database()`,
      );
      expect(killed.rowCount).toBe(1);
      await resync;
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((e) => e.code === StoreErrorCode.listenFailed)).toBe(true);
      const heard = waitFor<string>(
        (p) => (push = p),
        (t) => t === 'after-reconnect',
      );
      await repo.put(acme({ tenantId: 'after-reconnect' }));
      expect(await heard).toBe('after-reconnect');
    } finally {
      await stop();
    }
  });

  it('seeds the demo tenants once', async () => {
    const fresh = createTenantConfigRepository(await db.newMigratedPool());
    expect(await fresh.seedDemoTenants()).toBe(5);
    const first = await fresh.list();
    expect(first.configs.map((c) => c.tenantId)).toEqual([
      'tenant-1',
      'tenant-2',
      'tenant-3',
      'tenant-4',
      'tenant-5',
    ]);
    expect(first.configs.every((c) => c.enabled)).toBe(true);
    for (const config of first.configs) {
      const demo = DEMO_TENANTS.find((d) => d.tenantId === config.tenantId)!;
      expect(config).toMatchObject(demo);
      expect(Object.keys(config.fxRatesE9).sort()).toEqual(['CHF', 'EUR', 'GBP', 'JPY', 'USD']);
      expect(config.fxRatesE9[config.baseCurrency]).toBe(1_000_000_000n);
    }
    expect(await fresh.seedDemoTenants()).toBe(0);
    await Promise.all([fresh.seedDemoTenants(), fresh.seedDemoTenants()]);
    expect(await fresh.list()).toEqual(first);
  });
});
