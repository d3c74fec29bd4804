/**
 * The worker thread that owns the embedded PostgreSQL (PGlite). PGlite runs PostgreSQL compiled to WebAssembly
 * on the thread that calls it; on its own thread it no longer competes with the pipeline's actors for the main
 * thread, so the writer's SQL and the other stages' JavaScript run on the machine's two cores at once.
 */
import { parentPort } from 'node:worker_threads';
import { PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import type { SqlStep, StepResult, WorkerFailure, WorkerRequest, WorkerResponse } from './protocol.js';

/** int8 and numeric as text, as node-postgres returns them (PGlite would give lossy numbers for int8). */
const PARSERS = { 20: (v: string) => v, 1700: (v: string) => v };

type Queryable = Pick<Transaction, 'query' | 'exec'>;

let db: PGlite | undefined;

async function runStep(target: Queryable, step: SqlStep): Promise<StepResult> {
  let result: Results;
  if (step.params === undefined && step.blob === undefined && step.rowMode === undefined) {
    const all = await target.exec(step.sql, { parsers: PARSERS });
    result = all[all.length - 1] ?? { rows: [], fields: [] };
  } else {
    result = await target.query(step.sql, step.params as unknown[] | undefined, {
      parsers: PARSERS,
      ...(step.rowMode ? { rowMode: step.rowMode } : {}),
      ...(step.blob !== undefined ? { blob: new Blob([step.blob]) } : {}),
    });
  }
  return {
    rows: result.rows,
    rowCount: result.affectedRows ?? result.rows.length,
    fields: result.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
  };
}

async function runSteps(target: Queryable, steps: SqlStep[]): Promise<StepResult[]> {
  const results: StepResult[] = [];
  for (const step of steps) results.push(await runStep(target, step));
  return results;
}

async function handle(request: WorkerRequest): Promise<StepResult[]> {
  switch (request.kind) {
    case 'open':
      db = await PGlite.create({ dataDir: request.dataDir, relaxedDurability: true });
      return [];
    case 'run': {
      if (db === undefined) throw new Error('the database is not open');
      const open = db;
      return request.transaction
        ? open.transaction((tx) => runSteps(tx, request.steps))
        : runSteps(open, request.steps);
    }
    case 'close':
      await db?.close();
      db = undefined;
      return [];
  }
}

function failure(err: unknown): WorkerFailure {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & { code?: unknown; detail?: unknown };
  return {
    message: e.message,
    ...(typeof e.code === 'string' ? { sqlState: e.code } : {}),
    ...(typeof e.detail === 'string' ? { detail: e.detail } : {}),
  };
}

const port = parentPort;
if (port === null) throw new Error('pglite-worker must run in a worker thread');
// Requests are handled one after another: PGlite is one session, and the owner already serialises access.
let queue: Promise<void> = Promise.resolve();
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    const started = performance.now();
    let response: WorkerResponse;
    try {
      const results = await handle(request);
      response = { id: request.id, ok: true, results, busyMs: performance.now() - started };
    } catch (err) {
      response = { id: request.id, ok: false, error: failure(err), busyMs: performance.now() - started };
    }
    port.postMessage(response);
  });
});
