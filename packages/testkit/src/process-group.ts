import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { trackProcessGroup, untrackProcessGroup } from './cleanup.js';
import { sleep } from './wait.js';

/** How a child process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnSpec {
  command: string;
  args: readonly string[];
  /** The complete environment of the child. Default: the parent's. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run as this OS user/group (needs root); PostgreSQL refuses to run as root. */
  uid?: number;
  gid?: number;
  /** Give the child a stdin pipe (`write`); otherwise its stdin is /dev/null. */
  input?: boolean;
}

/** How long to wait for the rest of a group to disappear after its leader exited. */
const GROUP_GONE_TIMEOUT_MS = 5_000;
const GROUP_POLL_INTERVAL_MS = 10;
/** How long to wait for the last output after the leader exited. */
const STDIO_CLOSE_TIMEOUT_MS = 2_000;

/**
 * A child spawned as the leader of its own process group, so that it and everything it forks (PostgreSQL
 * backends, a wrapper's real program) can be signalled and killed together.
 */
export class ProcessGroup {
  /** Resolves when the leader has exited and no other member of its group is alive. Never rejects. */
  readonly exited: Promise<ExitStatus>;
  /** Resolves once the child is running (or failed to start). Never rejects. */
  readonly started: Promise<void>;
  private leaderExited = false;
  private readonly child: ChildProcess;

  private constructor(spec: SpawnSpec, onOutput: (text: string, stream: 'stdout' | 'stderr') => void) {
    this.child = spawn(spec.command, [...spec.args], {
      detached: true,
      stdio: [spec.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: spec.env ?? process.env,
      cwd: spec.cwd,
      uid: spec.uid,
      gid: spec.gid,
    });
    const child = this.child;
    if (child.pid !== undefined) trackProcessGroup(child.pid);
    child.stdout?.setEncoding('utf8').on('data', (text: string) => onOutput(text, 'stdout'));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => onOutput(text, 'stderr'));
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

    let markStarted!: () => void;
    this.started = new Promise((resolve) => (markStarted = resolve));
    child.once('spawn', () => markStarted());
    this.exited = new Promise((resolve) => {
      // A permanent listener: an unhandled 'error' event would crash the test process.
      child.on('error', (err) => {
        markStarted();
        if (child.pid !== undefined || this.leaderExited) return; // Not a failed spawn (e.g. a failed kill).
        onOutput(`[testkit] could not start ${spec.command}: ${err.message}\n`, 'stderr');
        this.leaderExited = true;
        resolve({ code: null, signal: null });
      });
      child.once('exit', (code, signal) => {
        this.leaderExited = true;
        void this.afterLeaderExit(closed).then(() => resolve({ code, signal }));
      });
    });
  }

  static spawn(spec: SpawnSpec, onOutput: (text: string, stream: 'stdout' | 'stderr') => void): ProcessGroup {
    return new ProcessGroup(spec, onOutput);
  }

  /** Writes to the child's stdin (spawned with `input`); ignored once it exited. */
  write(text: string): void {
    if (!this.leaderExited) this.child.stdin?.write(text);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True once the leader has exited (members of its group may linger until `exited` resolves). */
  get hasExited(): boolean {
    return this.leaderExited;
  }

  /** Signals the leader only: servers shut down gracefully and stop their own workers. */
  signalLeader(signal: NodeJS.Signals): void {
    if (this.leaderExited || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, signal);
    } catch {
      // It exited between the check and the kill.
    }
  }

  /** Signals every process in the group, as a terminal's Ctrl-C does. */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // The group is already empty.
    }
  }

  private async afterLeaderExit(closed: Promise<void>): Promise<void> {
    const pgid = this.child.pid;
    if (pgid === undefined) return;
    // Whatever the leader left behind would outlive the test: kill it.
    this.signalGroup('SIGKILL');
    const deadline = Date.now() + GROUP_GONE_TIMEOUT_MS;
    while (groupIsAlive(pgid) && Date.now() < deadline) await sleep(GROUP_POLL_INTERVAL_MS);
    await Promise.race([closed, sleep(STDIO_CLOSE_TIMEOUT_MS)]);
    untrackProcessGroup(pgid);
  }
}

/**
 * True while some member of the group is alive. Zombies do not count: once a leader is gone its children are
 * reparented to an init that may reap them late (or, in some containers, never).
 */
function groupIsAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (process.platform !== 'linux') return true;
  return hasLiveMemberInProc(pgid);
}

function hasLiveMemberInProc(pgid: number): boolean {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // Exited while we looked.
    }
    // Fields after the parenthesised command name: state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (Number(fields[2]) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}
