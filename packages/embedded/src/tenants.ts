/** Tenant configurations the embedded pipeline starts with. */
import { DEMO_TENANTS, type TenantConfigInput, type TenantConfigRepository } from '@throughline/stores';

/**
 * `count` demo tenants: `tenant-1`..`tenant-5` as the stores define them, and past five, copies of those under the
 * next names (`tenant-6` is configured like `tenant-1`), so the workload's `tenant-<n>` all exist.
 */
export function demoTenants(count: number): TenantConfigInput[] {
  const out: TenantConfigInput[] = [];
  for (let i = 0; i < count; i++) {
    const template = DEMO_TENANTS[i % DEMO_TENANTS.length]!;
    out.push({ ...template, tenantId: `tenant-${i + 1}` });
  }
  return out;
}

/** Stores each configuration whose tenant has none yet; returns how many were added. */
export async function ensureTenants(
  repo: TenantConfigRepository,
  tenants: readonly TenantConfigInput[],
): Promise<number> {
  const existing = new Set((await repo.list()).configs.map((c) => c.tenantId));
  let added = 0;
  for (const tenant of tenants) {
    if (existing.has(tenant.tenantId)) continue;
    await repo.put(tenant);
    existing.add(tenant.tenantId);
    added++;
  }
  return added;
}
