/**
 * The embedded PostgreSQL: PGlite on its own worker thread, with its files in a data directory, reached through
 * a small `pg.Pool` look-alike so that the stores' code (migrations, sink, state source, config repository,
 * verifier) runs on it unchanged.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type pg from 'pg';
import { EmbeddedError, EmbeddedErrorCode } from '../errors.js';
import { Mutex } from './mutex.js';
import { createPglitePool } from './pglite-pool.js';
import type { SqlStep, StepResult, WorkerRequest, WorkerResponse } from './protocol.js';

/** Where `throughline demo` keeps its database unless told otherwise (relative to the working directory). */
export const DEFAULT_DATA_DIR = './.throughline/data';

export interface OpenEmbeddedDatabaseOptions {
  /** Directory of the database files; created with a new database when missing. Default `./.throughline/data`. */
  dataDir?: string;
  /** When false, opening a directory that holds no database fails instead of creating one. Default true. */
  create?: boolean;
}

type Pending = { resolve: (results: StepResult[]) => void; reject: (err: Error) => void };

/** True when `dataDir` holds a PostgreSQL data directory (PGlite's or any other). */
export function hasDatabase(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

export class EmbeddedDatabase {
  /** The absolute path of the data directory. */
  readonly dataDir: string;
  /** A `pg.Pool` look-alike over this database, for the stores (one session, access serialised). */
  readonly pool: pg.Pool;
  private readonly lock = new Mutex();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;
  private busy = 0;

  private constructor(
    dataDir: string,
    private readonly worker: Worker,
  ) {
    this.dataDir = dataDir;
    this.pool = createPglitePool(this);
    worker.on('message', (response: WorkerResponse) => this.settle(response));
    worker.on('error', (err) =>
      this.fail(
        new EmbeddedError(EmbeddedErrorCode.closed, `the database thread failed: ${err.message}`, {
          cause: err,
        }),
      ),
    );
    worker.on('exit', () =>
      this.fail(new EmbeddedError(EmbeddedErrorCode.closed, 'the embedded database is closed')),
    );
  }

  /** Starts the database thread and opens (or creates) the database in `dataDir`. */
  static async open(options: OpenEmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
    const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
    if (options.create === false && !hasDatabase(dataDir)) {
      throw new EmbeddedError(EmbeddedErrorCode.openFailed, `no embedded database in ${dataDir}`);
    }
    try {
      mkdirSync(dataDir, { recursive: true });
    } catch (err) {
      throw new EmbeddedError(
        EmbeddedErrorCode.openFailed,
        `cannot create ${dataDir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const db = new EmbeddedDatabase(dataDir, new Worker(new URL('./pglite-worker.js', import.meta.url)));
    try {
      await db.request({ id: 0, kind: 'open', dataDir });
      // Sorts of the verifier and index builds over a million rows stay in memory (PGlite's defaults are 4 and 64 MB).
      await db.runUnlocked([{ sql: `SET work_mem = '64MB'; SET maintenance_work_mem = '256MB'` }]);
    } catch (err) {
      await db.worker.terminate();
      throw new EmbeddedError(
        EmbeddedErrorCode.openFailed,
        `cannot open the embedded database in ${dataDir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    return db;
  }

  /**
   * Runs statements in one round trip to the database thread, after any session in progress (see `acquire`); with
   * `transaction`, they commit or roll back together.
   */
  async run(steps: SqlStep[], opts: { transaction?: boolean } = {}): Promise<StepResult[]> {
    // The lock is held only to post: the thread runs requests in the order posted, so several can queue there
    // (keeping PostgreSQL busy while this thread is busy elsewhere) without entering a session's transaction.
    let result!: Promise<StepResult[]>;
    await this.lock.withLock(() => {
      result = this.runUnlocked(steps, opts);
      return Promise.resolve();
    });
    return result;
  }

  /** Takes the session for a series of calls (a transaction); call the returned function to give it back. */
  acquire(): Promise<() => void> {
    return this.lock.acquire();
  }

  /** Like `run`, for a caller that holds the session (see `acquire`). */
  runUnlocked(steps: SqlStep[], opts: { transaction?: boolean } = {}): Promise<StepResult[]> {
    return this.request({ id: 0, kind: 'run', steps, transaction: opts.transaction ?? false });
  }

  /** Time the database thread has spent executing requests since it opened, ms. */
  get busyMs(): number {
    return this.busy;
  }

  /** Closes the database (PostgreSQL shuts down cleanly, writing a checkpoint) and stops its thread. */
  async close(): Promise<void> {
    if (this.failure !== undefined) return;
    await this.lock.withLock(async () => {
      await this.request({ id: 0, kind: 'close' }).catch(() => undefined);
      await this.worker.terminate();
    });
  }

  private request(request: WorkerRequest): Promise<StepResult[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<StepResult[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...request, id });
    });
  }

  private settle(response: WorkerResponse): void {
    const pending = this.pending.get(response.id);
    if (pending === undefined) return;
    this.pending.delete(response.id);
    this.busy += response.busyMs;
    if (response.ok) {
      pending.resolve(response.results);
      return;
    }
    const { message, sqlState, detail } = response.error;
    pending.reject(
      new EmbeddedError(
        EmbeddedErrorCode.queryFailed,
        detail ? `${message} (${detail})` : message,
        sqlState ? { sqlState } : {},
      ),
    );
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}
