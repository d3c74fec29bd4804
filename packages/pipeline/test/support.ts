/**
 * What the pipeline's tests share: an in-memory bus, waiting for a condition, a config repository in memory and a
 * service over it.
 */
import type { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { onTestFinished } from 'vitest';
import { createMemoryBus, type Bus } from '@throughline/bus';
import { ConfigServiceService, type TenantConfig } from '@throughline/contracts';
import { silentLogger, sleep } from '@throughline/runtime';
import {
  createConfigService,
  followConfigChanges,
  type CallCredentials,
  type ConfigRepository,
  type PutAuthorization,
  type TenantConfigInput,
} from '../src/index.js';

/** An in-memory bus with its streams and buckets, closed when the test ends. */
export async function memoryBus(): Promise<Bus> {
  const bus = createMemoryBus();
  await bus.ensureTopology();
  onTestFinished(() => bus.close());
  return bus;
}

/** Resolves once `cond` holds; fails after `timeoutMs`, saying what was awaited. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what = 'condition',
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not met in ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** A valid configuration of `tenantId`. */
export const tenant = (tenantId: string, feeBps = 1): TenantConfigInput => ({
  tenantId,
  enabled: true,
  baseCurrency: 'EUR',
  feeBps,
  fxRatesE9: {},
  dailyDebitLimitMinor: 0n,
  overdraftLimitMinor: 0n,
});

interface Listener {
  onChange: (tenantId: string, version: bigint) => void;
  onResync?: (() => void) | undefined;
}

/**
 * The configuration as PostgreSQL keeps it, in memory: versions drawn from one sequence, possibly long before the
 * change commits; a notice to every listener per commit, unless notices are being lost (`listening = false`, a
 * dropped LISTEN connection), and `resync()` when listening again. `hold()` makes the next `list()` read now and
 * answer only when released, so changes can commit while a snapshot is on its way.
 */
export class MemoryConfigRepository implements ConfigRepository {
  readonly configs = new Map<string, TenantConfig>();
  /** Who made each stored version, by version. */
  readonly changedBy = new Map<bigint, string | undefined>();
  listening = true;
  /** Errors `list`, `get` and `put` fail with, while set. */
  readonly failing: { list?: Error; get?: Error; put?: Error } = {};
  /** How many times the configuration was listed. */
  lists = 0;
  private sequence = 0n;
  private readonly listeners = new Set<Listener>();
  private held: Promise<void> | undefined;

  /** Starts with a valid configuration of each of `tenantIds`, at versions 1, 2, … */
  constructor(tenantIds: string[] = []) {
    for (const id of tenantIds) this.commit(tenant(id), this.drawVersion());
  }

  list(): Promise<{ configs: TenantConfig[]; version: bigint }> {
    this.lists++;
    if (this.failing.list) return Promise.reject(this.failing.list);
    const configs = [...this.configs.values()].sort((a, b) => a.tenantId.localeCompare(b.tenantId));
    const version = configs.reduce((max, c) => (c.version > max ? c.version : max), 0n);
    const answer = { configs, version };
    const held = this.held;
    this.held = undefined;
    return held === undefined ? Promise.resolve(answer) : held.then(() => answer);
  }

  get(tenantId: string): Promise<TenantConfig | undefined> {
    // Read a moment later, as a query would: after whatever commits meanwhile.
    return Promise.resolve().then(() => {
      if (this.failing.get) throw this.failing.get;
      return this.configs.get(tenantId);
    });
  }

  put(config: TenantConfigInput, opts: { changedBy?: string } = {}): Promise<TenantConfig> {
    if (this.failing.put) return Promise.reject(this.failing.put);
    if (!/^[A-Z]{3}$/.test(config.baseCurrency)) {
      const why = `tenant config "${config.tenantId}": base_currency must be 3 capitals`;
      return Promise.reject(Object.assign(new Error(why), { poison: true }));
    }
    const stored = this.commit(config, this.drawVersion());
    this.changedBy.set(stored.version, opts.changedBy);
    return Promise.resolve(stored);
  }

  /** Draws the next version, as a transaction does before it commits. */
  drawVersion(): bigint {
    return ++this.sequence;
  }

  /** Commits `config` at `version` (drawn earlier), notifying the listeners if they are listening. */
  commit(config: TenantConfigInput, version: bigint): TenantConfig {
    const current = this.configs.get(config.tenantId);
    const stored: TenantConfig = { ...config, version, updatedAtMs: 0n };
    if (current === undefined || current.version < version) this.configs.set(config.tenantId, stored);
    if (this.listening) for (const l of this.listeners) l.onChange(config.tenantId, version);
    return stored;
  }

  /** The listening connection is back: notices lost meanwhile are announced as a resync. */
  resync(): void {
    this.listening = true;
    for (const l of this.listeners) l.onResync?.();
  }

  /** The next `list()` reads the configuration at once and answers when the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.held = new Promise((resolve) => (release = resolve));
    return release;
  }

  listen(onChange: Listener['onChange'], opts: { onResync?: () => void } = {}): Promise<() => Promise<void>> {
    const listener: Listener = { onChange, onResync: opts.onResync };
    this.listeners.add(listener);
    return Promise.resolve(() => {
      this.listeners.delete(listener);
      return Promise.resolve();
    });
  }
}

export interface ServedConfig {
  port: number;
  /** The notices the service's Watch streams follow. */
  changes: EventEmitter;
  /** Stops the service at once (its streams break) and stops following the notices. */
  close: () => Promise<void>;
}

/** The config service over `repo` on loopback (at `port`, default any free one); any Put allowed. */
export async function serveConfig(
  repo: ConfigRepository,
  opts: { port?: number; authorizePut?: (call: CallCredentials) => PutAuthorization } = {},
): Promise<ServedConfig> {
  const { changes, stop } = await followConfigChanges(repo, silentLogger);
  const server = new grpc.Server();
  const authorize = opts.authorizePut ?? ((call) => ({ ok: true, by: `open:${call.peer}` }));
  server.addService(ConfigServiceService, createConfigService(repo, changes, silentLogger, authorize));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    changes,
    async close() {
      server.forceShutdown();
      await stop();
    },
  };
}
