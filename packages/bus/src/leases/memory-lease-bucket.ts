/**
 * The lease bucket of the in-memory bus: the semantics of a NATS KV bucket with a `ttl` (revisions increasing over
 * the bucket, compare-and-set on a key's last revision, expiry without a watch event) in one process.
 */
import { ensureError } from '../errors.js';
import type { LeaseBucket, LeaseEntry, LeaseWatch } from '../types.js';
import { checkLeaseKey, underPrefix } from './keys.js';

interface Stored {
  value: Uint8Array | undefined;
  revision: number;
  writtenAtMs: number;
}

interface Watcher {
  prefix: string;
  onEntry: (entry: LeaseEntry) => void;
}

export class MemoryLeaseBucket implements LeaseBucket {
  /** As for a new NATS bucket (`epochFloorNow`): revisions start at the creation time in microseconds. */
  private revision: number;
  private readonly keys = new Map<string, Stored>();
  private readonly watchers = new Set<Watcher>();

  constructor(
    readonly ttlMs: number,
    private readonly now: () => number,
  ) {
    this.revision = Math.floor(now()) * 1000;
  }

  create(key: string, value: Uint8Array): Promise<number | undefined> {
    return this.run(() => (this.live(key) === undefined ? this.write(key, value) : undefined));
  }

  update(key: string, value: Uint8Array, revision: number): Promise<number | undefined> {
    return this.run(() => (this.lastRevision(key) === revision ? this.write(key, value) : undefined));
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.run(() => this.write(key, value));
  }

  delete(key: string, revision?: number): Promise<boolean> {
    return this.run(() => {
      if (revision !== undefined && this.lastRevision(key) !== revision) return false;
      this.write(key, undefined);
      return true;
    });
  }

  get(key: string): Promise<LeaseEntry | undefined> {
    return this.run(() => {
      checkLeaseKey(key);
      const stored = this.live(key);
      return stored?.value === undefined
        ? undefined
        : { key, value: stored.value.slice(), revision: stored.revision };
    });
  }

  advanceRevision(floor: number): Promise<void> {
    return this.run(() => {
      if (this.revision >= floor) return;
      // As a purge past the end of a NATS stream does: every key goes, the next write gets floor + 1.
      this.keys.clear();
      this.revision = floor;
    });
  }

  entries(prefix: string): Promise<LeaseEntry[]> {
    return this.run(() => {
      const out: LeaseEntry[] = [];
      for (const key of this.keys.keys()) {
        const stored = this.live(key);
        if (stored?.value !== undefined && underPrefix(key, prefix))
          out.push({ key, value: stored.value, revision: stored.revision });
      }
      return out.sort((a, b) => a.revision - b.revision);
    });
  }

  async watch(prefix: string, onEntry: (entry: LeaseEntry) => void): Promise<LeaseWatch> {
    for (const entry of await this.entries(prefix))
      onEntry({ ...entry, storedAtMs: this.keys.get(entry.key)?.writtenAtMs ?? this.now() });
    const watcher: Watcher = { prefix, onEntry };
    this.watchers.add(watcher);
    return {
      stop: () => {
        this.watchers.delete(watcher);
        return Promise.resolve();
      },
    };
  }

  /** The key's stored entry unless it expired (expired keys are forgotten, as a stream's max_age removes them). */
  private live(key: string): Stored | undefined {
    const stored = this.keys.get(key);
    if (stored === undefined) return undefined;
    if (this.ttlMs > 0 && this.now() - stored.writtenAtMs >= this.ttlMs) {
      this.keys.delete(key);
      return undefined;
    }
    return stored.value === undefined ? undefined : stored;
  }

  /** The revision a compare-and-set compares with: 0 when the key is gone, a delete's revision after a delete. */
  private lastRevision(key: string): number {
    this.live(key);
    return this.keys.get(key)?.revision ?? 0;
  }

  private write(key: string, value: Uint8Array | undefined): number {
    checkLeaseKey(key);
    const revision = ++this.revision;
    const storedAtMs = this.now();
    this.keys.set(key, { value: value?.slice(), revision, writtenAtMs: storedAtMs });
    // Delivered later and in order, as a watch over the network is: never inside the writer's call.
    for (const watcher of this.watchers) {
      if (underPrefix(key, watcher.prefix))
        queueMicrotask(() => {
          if (this.watchers.has(watcher))
            watcher.onEntry({ key, value: value?.slice(), revision, storedAtMs });
        });
    }
    return revision;
  }

  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(ensureError(err));
    }
  }
}
