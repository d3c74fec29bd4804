import { execFile } from 'node:child_process';
import { CommandFailedError } from './errors.js';
import type { SpawnSpec } from './process-group.js';

export interface RunCommandOptions {
  /** Kill the command after this long. Default: 60_000 ms. */
  timeoutMs?: number;
}

/** Runs a short-lived helper command to completion; resolves with its stdout, throws `CommandFailedError`. */
export function runCommand(spec: SpawnSpec, opts: RunCommandOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      spec.command,
      [...spec.args],
      {
        env: spec.env ?? process.env,
        cwd: spec.cwd,
        uid: spec.uid,
        gid: spec.gid,
        timeout: opts.timeoutMs ?? 60_000,
        killSignal: 'SIGKILL',
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new CommandFailedError(spec.command, spec.args, (stdout + stderr).trim(), { cause: error }));
        else resolve(stdout);
      },
    );
  });
}
