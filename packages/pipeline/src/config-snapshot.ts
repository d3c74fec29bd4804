import type { AppliedConfig, ConfigChange, TenantConfig } from '@throughline/contracts';
import { appliedConfigOf } from '@throughline/ledger';

/**
 * An immutable view of every tenant's configuration. A batch is enriched with one snapshot, so all of its events
 * see the same configuration; a change makes a new snapshot rather than mutating this one.
 */
export class ConfigSnapshot {
  /** The largest version of any configuration in the snapshot (0 when empty). */
  readonly version: bigint;
  private readonly tenants: ReadonlyMap<string, TenantConfig>;
  private readonly applied = new Map<string, AppliedConfig>();

  constructor(configs: Iterable<TenantConfig>) {
    const tenants = new Map<string, TenantConfig>();
    let version = 0n;
    for (const c of configs) {
      tenants.set(c.tenantId, c);
      if (c.version > version) version = c.version;
    }
    this.tenants = tenants;
    this.version = version;
  }

  static readonly empty = new ConfigSnapshot([]);

  get size(): number {
    return this.tenants.size;
  }

  get(tenantId: string): TenantConfig | undefined {
    return this.tenants.get(tenantId);
  }

  /** The projection carried by each event (computed once per tenant per snapshot). */
  appliedFor(tenantId: string): AppliedConfig {
    let applied = this.applied.get(tenantId);
    if (applied === undefined) {
      applied = appliedConfigOf(this.tenants.get(tenantId));
      this.applied.set(tenantId, applied);
    }
    return applied;
  }

  /** A new snapshot with `config` replacing the tenant's current one, unless it is not newer. */
  with(config: TenantConfig): ConfigSnapshot {
    const current = this.tenants.get(config.tenantId);
    if (current !== undefined && current.version >= config.version) return this;
    return new ConfigSnapshot([...this.tenants.values(), config].filter((c) => c !== current));
  }

  all(): TenantConfig[] {
    return [...this.tenants.values()];
  }
}

/** Holds the current snapshot and applies pushed changes. */
export class ConfigCache {
  private snapshot: ConfigSnapshot;
  private readonly listeners = new Set<(s: ConfigSnapshot) => void>();

  constructor(initial: ConfigSnapshot = ConfigSnapshot.empty) {
    this.snapshot = initial;
  }

  get current(): ConfigSnapshot {
    return this.snapshot;
  }

  replace(snapshot: ConfigSnapshot): void {
    this.snapshot = snapshot;
    for (const l of this.listeners) l(snapshot);
  }

  apply(change: ConfigChange): void {
    if (change.config === undefined) return;
    const next = this.snapshot.with(change.config);
    if (next !== this.snapshot) this.replace(next);
  }

  onChange(listener: (s: ConfigSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
