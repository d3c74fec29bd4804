/** Stable codes of the errors this package throws, for callers that switch on them. */
export const TestkitErrorCode = {
  MissingBinary: 'TESTKIT_MISSING_BINARY',
  ServerStart: 'TESTKIT_SERVER_START',
  WaitTimeout: 'TESTKIT_WAIT_TIMEOUT',
  CommandFailed: 'TESTKIT_COMMAND_FAILED',
  ServiceExited: 'TESTKIT_SERVICE_EXITED',
} as const;

export type TestkitErrorCode = (typeof TestkitErrorCode)[keyof typeof TestkitErrorCode];

/** A server binary (nats-server, redis-server, initdb, ...) is not installed where we look for it. */
export class MissingBinaryError extends Error {
  override readonly name = 'MissingBinaryError';
  readonly code = TestkitErrorCode.MissingBinary;

  constructor(
    /** The executable that was looked for, e.g. `nats-server`. */
    readonly binary: string,
    /** How to install it, e.g. `apt-get install nats-server`. */
    readonly installHint: string,
    /** The directories that were searched. */
    readonly searchedDirs: readonly string[],
    /** Where we looked, for the message. Default: "on PATH". */
    where = 'on PATH',
  ) {
    super(`${binary} not found ${where}: install it with "${installHint}"`);
  }
}

/** A server did not come up (or came up and died); the message ends with the tail of its log. */
export class ServerStartError extends Error {
  override readonly name = 'ServerStartError';
  readonly code = TestkitErrorCode.ServerStart;

  constructor(
    /** The kind of server, e.g. `redis-server`. */
    readonly server: string,
    reason: string,
    /** The last lines the server wrote, possibly empty. */
    readonly logTail: string,
    options?: { cause?: unknown },
  ) {
    super(`${server}: ${reason}${logTail ? `\n--- last lines of its log ---\n${logTail}` : ''}`, options);
  }
}

/** `waitFor` gave up; `cause` is the last error the probe threw, if any. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  readonly code = TestkitErrorCode.WaitTimeout;

  constructor(
    message: string,
    /** How long we waited, in milliseconds. */
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A helper command (initdb, psql, ...) exited unsuccessfully. */
export class CommandFailedError extends Error {
  override readonly name = 'CommandFailedError';
  readonly code = TestkitErrorCode.CommandFailed;

  constructor(
    readonly command: string,
    readonly args: readonly string[],
    /** What the command wrote to stdout and stderr. */
    readonly output: string,
    options?: { cause?: unknown },
  ) {
    super(`${command} ${args.join(' ')} failed${output ? `:\n${output}` : ''}`, options);
  }
}

export function isMissingBinaryError(e: unknown): e is MissingBinaryError {
  return e instanceof MissingBinaryError;
}

export function isServerStartError(e: unknown): e is ServerStartError {
  return e instanceof ServerStartError;
}

export function isWaitTimeoutError(e: unknown): e is WaitTimeoutError {
  return e instanceof WaitTimeoutError;
}

export function isCommandFailedError(e: unknown): e is CommandFailedError {
  return e instanceof CommandFailedError;
}

/** Turns anything thrown into an `Error`, keeping the original as `cause` when it was not one. */
export function ensureError(e: unknown): Error {
  if (e instanceof Error) return e;
  return new Error(typeof e === 'string' ? e : `non-error thrown: ${String(e)}`, { cause: e });
}

/** A service process exited while a test was waiting for it; the message ends with its last output lines. */
export class ServiceExitedError extends Error {
  override readonly name = 'ServiceExitedError';
  readonly code = TestkitErrorCode.ServiceExited;

  constructor(
    readonly service: string,
    /** How it exited. */
    readonly exit: { code: number | null; signal: NodeJS.Signals | null },
    reason: string,
    outputTail: string,
  ) {
    const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code ?? 'unknown'}`;
    super(`${service} exited (${how}) ${reason}\n${outputTail}`);
  }
}

export function isServiceExitedError(e: unknown): e is ServiceExitedError {
  return e instanceof ServiceExitedError;
}
