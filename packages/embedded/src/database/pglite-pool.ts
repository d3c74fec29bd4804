/**
 * The part of node-postgres' `Pool` and `PoolClient` that @throughline/stores uses, over the embedded database:
 * `query(text | { name?, text, values, rowMode }, values?)` resolving to `{ rows, rowCount, fields }`, `connect()`
 * to a client with `query` and `release` (holding the single session until released, so a transaction is not
 * interleaved with other callers), `on`/`off` (no connection events: the session cannot drop), and `end()`.
 *
 * A statement's `name` is ignored: PGlite keeps no prepared statements across calls, and the plan is cheap next to
 * the work. LISTEN is not supported (embedded mode pushes configuration changes in process).
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { SqlStep, StepResult } from './protocol.js';

/** What the adapter needs of the database (EmbeddedDatabase implements it). */
export interface SessionOwner {
  run(steps: SqlStep[]): Promise<StepResult[]>;
  runUnlocked(steps: SqlStep[]): Promise<StepResult[]>;
  acquire(): Promise<() => void>;
}

interface QueryConfigLike {
  text: string;
  values?: readonly unknown[];
  rowMode?: 'array';
  name?: string;
}

export interface PgLikeResult {
  rows: unknown[];
  rowCount: number;
  fields: { name: string; dataTypeID: number }[];
  command: string;
}

function stepOf(config: string | QueryConfigLike, values?: readonly unknown[]): SqlStep {
  const text = typeof config === 'string' ? config : config.text;
  const params = (typeof config === 'string' ? undefined : config.values) ?? values;
  const rowMode = typeof config === 'string' ? undefined : config.rowMode;
  return {
    sql: text,
    ...(params !== undefined ? { params: params.map(toParam) } : {}),
    ...(rowMode ? { rowMode } : {}),
  };
}

/** node-postgres sends bigint and Date parameters as text; PGlite's serializers would need their exact types. */
function toParam(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

function resultOf(results: StepResult[]): PgLikeResult {
  const last = results[results.length - 1] ?? { rows: [], rowCount: 0, fields: [] };
  return { rows: last.rows, rowCount: last.rowCount, fields: last.fields, command: '' };
}

class PgliteClient extends EventEmitter {
  private released = false;
  constructor(
    private readonly owner: SessionOwner,
    private readonly release_: () => void,
  ) {
    super();
  }

  async query(config: string | QueryConfigLike, values?: readonly unknown[]): Promise<PgLikeResult> {
    if (this.released) throw new Error('the client was released');
    return resultOf(await this.owner.runUnlocked([stepOf(config, values)]));
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.release_();
  }
}

class PglitePool extends EventEmitter {
  constructor(private readonly owner: SessionOwner) {
    super();
  }

  async query(config: string | QueryConfigLike, values?: readonly unknown[]): Promise<PgLikeResult> {
    return resultOf(await this.owner.run([stepOf(config, values)]));
  }

  async connect(): Promise<PgliteClient> {
    return new PgliteClient(this.owner, await this.owner.acquire());
  }

  /** The database's lifetime belongs to its owner (`EmbeddedDatabase.close()`); ending the pool does nothing. */
  end(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A `pg.Pool` over the embedded database. Only the subset described above exists; the cast is what lets the
 * stores' functions, typed on `pg.Pool`, take it.
 */
export function createPglitePool(owner: SessionOwner): pg.Pool {
  return new PglitePool(owner) as unknown as pg.Pool;
}
