// Servers run in their own process groups, so nothing kills them when the test process dies: this module
// remembers every live group and temp dir, and SIGKILLs/removes them when the process exits or is signalled.
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface CleanupState {
  liveGroups: Set<number>;
  tempDirs: Set<string>;
  handlersInstalled: boolean;
}

// Kept on globalThis: if this module is evaluated twice in one process (vi.resetModules, two copies of the
// package), one set of handlers must still see every child, and a signal must still end the process.
const STATE_KEY = Symbol.for('@throughline/testkit/cleanup');
const globals = globalThis as { [STATE_KEY]?: CleanupState };
const state: CleanupState = (globals[STATE_KEY] ??= {
  liveGroups: new Set(),
  tempDirs: new Set(),
  handlersInstalled: false,
});
const { liveGroups, tempDirs } = state;

const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export function trackProcessGroup(pgid: number): void {
  installHandlers();
  liveGroups.add(pgid);
}

export function untrackProcessGroup(pgid: number): void {
  liveGroups.delete(pgid);
}

/** Creates a fresh directory under `os.tmpdir()` that is removed when the process exits, if not before. */
export function makeTempDir(prefix: string): string {
  installHandlers();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  // Retries because a process killed a moment ago may still be closing files in it.
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  tempDirs.delete(dir);
}

/** SIGKILLs every live process group and removes every temp dir, synchronously (it runs on 'exit'). */
export function reapAll(): void {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  liveGroups.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 2, retryDelay: 20 });
    } catch {
      // Best effort while exiting: there is nobody left to report to.
    }
  }
  tempDirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  reapAll();
  // If nobody else handles the signal, behave as if we had not listened: die of it.
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
}

function installHandlers(): void {
  if (state.handlersInstalled) return;
  state.handlersInstalled = true;
  process.on('exit', reapAll);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, onSignal);
}
