/** Errors of the command line and the exit codes they map to. */

export const ExitCode = {
  ok: 0,
  /** The command ran and failed: a server unreachable, an invariant violated, an operation refused. */
  failure: 1,
  /** The command line itself is wrong: unknown flag, bad value, missing argument. */
  usage: 2,
  /** Stopped by Ctrl-C before it finished. */
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure to report as one line saying what to do; `exitCode` is what the process exits with. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: ExitCode;
  constructor(message: string, options: { exitCode?: ExitCode; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.exitCode = options.exitCode ?? ExitCode.failure;
  }
}

export function isCliError(err: unknown): err is CliError {
  return err instanceof CliError;
}

/** A usage error found after parsing (options that only make sense together, or not at all). */
export function usageError(message: string): CliError {
  return new CliError(message, { exitCode: ExitCode.usage });
}

/** The message of anything thrown, on one line. */
export function oneLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
