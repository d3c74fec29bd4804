/**
 * Messages between the embedded database's owner (the main thread) and the worker thread that runs PGlite.
 * Everything here is structured-clone safe: strings, numbers, booleans, plain objects, arrays.
 */

/** One statement. Without `params` it runs over the simple protocol, so it may hold several statements. */
export interface SqlStep {
  sql: string;
  params?: readonly unknown[];
  rowMode?: 'array' | 'object';
  /** COPY … FROM '/dev/blob' input, as text. */
  blob?: string;
}

export type WorkerRequest =
  | { id: number; kind: 'open'; dataDir: string }
  /** Runs the steps in order; with `transaction`, inside BEGIN … COMMIT (ROLLBACK on the first failure). */
  | { id: number; kind: 'run'; steps: SqlStep[]; transaction: boolean }
  | { id: number; kind: 'close' };

export interface StepResult {
  rows: unknown[];
  /** Rows a write touched, or rows returned by a read. */
  rowCount: number;
  fields: { name: string; dataTypeID: number }[];
}

export interface WorkerFailure {
  message: string;
  sqlState?: string;
  detail?: string;
}

export type WorkerResponse =
  | { id: number; ok: true; results: StepResult[]; busyMs: number }
  | { id: number; ok: false; error: WorkerFailure; busyMs: number };
