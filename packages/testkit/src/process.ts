import { ServiceExitedError, WaitTimeoutError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { describeExit } from './managed-server.js';
import { OutputLog } from './output-log.js';
import { ProcessGroup, type ExitStatus } from './process-group.js';

/** A child process of a service under test: output captured, killable, restartable. */
export interface ServiceProcess {
  readonly name: string;
  /** The current run's process id; `undefined` once it exited. */
  readonly pid: number | undefined;
  /** Everything written to stdout and stderr so far, across restarts. */
  output(): string;
  /**
   * Resolves with the first match of `pattern` in the output of the current run (since the last spawn or
   * restart). Rejects early if the process exits without a match; the error quotes the last 40 lines.
   */
  waitForOutput(pattern: RegExp, opts?: { timeoutMs?: number }): Promise<RegExpMatchArray>;
  /** Sends `signal` (default SIGTERM) to the process group; resolves when it has exited. */
  kill(signal?: NodeJS.Signals): Promise<ExitStatus>;
  /**
   * Sends `signal` to the process group and returns at once: for signals that do not end it, such as `SIGSTOP`
   * (pause) and `SIGCONT` (resume). Does nothing once the process has exited.
   */
  signal(signal: NodeJS.Signals): void;
  /** Writes `text` to its stdin (spawned with `input: true`). */
  write(text: string): void;
  /** Resolves when the current run has exited (anything it started is SIGKILLed then). */
  readonly exited: Promise<ExitStatus>;
  /**
   * Spawns again with the same command, args and env (with `env` added, for this run and later ones); stops the
   * current run first (SIGTERM) if it is running.
   */
  restart(opts?: { env?: Record<string, string> }): Promise<void>;
}

export interface SpawnServiceOptions {
  /** Prefixes echoed lines and names the service in errors. */
  name: string;
  command: string;
  /** Default: none. */
  args?: string[];
  /** Added to (and overriding) the test process's environment. Default: nothing added. */
  env?: Record<string, string>;
  /** Default: the test process's working directory. */
  cwd?: string;
  /** Copy each line to stderr prefixed with `[name]`. Default: `process.env.TL_TEST_ECHO === '1'`. */
  echo?: boolean;
  /** Told when the service starts and exits. Default: silent. */
  logger?: Logger;
  /** Give it a stdin to `write` to. Default false (its stdin is /dev/null). */
  input?: boolean;
}

const ERROR_TAIL_LINES = 40;

export { type ExitStatus } from './process-group.js';

/** Spawns `command` in its own process group, capturing its output. */
export function spawnService(opts: SpawnServiceOptions): ServiceProcess {
  return new Service(opts);
}

class Service implements ServiceProcess {
  readonly name: string;
  private group!: ProcessGroup;
  private readonly log = new OutputLog();
  private runMark = 0;
  private readonly outputListeners = new Set<() => void>();
  private readonly echo: boolean;
  private readonly partialLines = { stdout: '', stderr: '' };
  private readonly logger: Logger;
  private env: Record<string, string>;

  constructor(private readonly opts: SpawnServiceOptions) {
    this.name = opts.name;
    this.echo = opts.echo ?? process.env.TL_TEST_ECHO === '1';
    this.logger = opts.logger ?? silentLogger;
    this.env = { ...opts.env };
    this.launch();
  }

  get pid(): number | undefined {
    return this.group.hasExited ? undefined : this.group.pid;
  }

  get exited(): Promise<ExitStatus> {
    return this.group.exited;
  }

  output(): string {
    return this.log.text();
  }

  waitForOutput(pattern: RegExp, opts: { timeoutMs?: number } = {}): Promise<RegExpMatchArray> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const once = new RegExp(pattern.source, pattern.flags.replace('g', '')); // match() with /g loses groups
    const group = this.group;
    const mark = this.runMark;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = this.log.since(mark).match(once);
        if (match) finish(() => resolve(match));
        return match !== null;
      };
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        this.outputListeners.delete(onOutput);
        settle();
      };
      const onOutput = (): void => void check();
      const timer = setTimeout(() => {
        const message = `${this.name}: no output matching ${String(pattern)} within ${timeoutMs} ms`;
        finish(() => reject(new WaitTimeoutError(`${message}\n${this.tailSince(mark)}`, timeoutMs)));
      }, timeoutMs);
      this.outputListeners.add(onOutput);
      if (check()) return;
      void group.exited.then((status) => {
        if (!this.outputListeners.has(onOutput) || check()) return;
        finish(() =>
          reject(
            new ServiceExitedError(
              this.name,
              status,
              `before its output matched ${String(pattern)}`,
              this.tailSince(mark),
            ),
          ),
        );
      });
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.group.hasExited) this.group.signalGroup(signal);
  }

  write(text: string): void {
    this.group.write(text);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus> {
    if (!this.group.hasExited) this.group.signalGroup(signal);
    return this.group.exited;
  }

  async restart(opts: { env?: Record<string, string> } = {}): Promise<void> {
    await this.kill();
    if (opts.env !== undefined) this.env = { ...this.env, ...opts.env };
    this.launch();
    await this.group.started;
  }

  private launch(): void {
    this.runMark = this.log.totalChars;
    const group = ProcessGroup.spawn(
      {
        command: this.opts.command,
        args: this.opts.args ?? [],
        env: { ...process.env, ...this.env },
        cwd: this.opts.cwd,
        input: this.opts.input === true,
      },
      (text, stream) => this.onOutput(text, stream),
    );
    this.group = group;
    void group.started.then(() => this.logger.info(`${this.name} started (pid ${group.pid ?? '?'})`));
    void group.exited.then((status) => {
      this.flushEcho();
      this.logger.info(`${this.name} exited (${describeExit(status)})`);
    });
  }

  private onOutput(text: string, stream: 'stdout' | 'stderr'): void {
    this.log.append(text);
    if (this.echo) this.echoLines(text, stream);
    for (const listener of [...this.outputListeners]) listener();
  }

  private echoLines(text: string, stream: 'stdout' | 'stderr'): void {
    const lines = (this.partialLines[stream] + text).split('\n');
    this.partialLines[stream] = lines.pop() ?? '';
    for (const line of lines) process.stderr.write(`[${this.name}] ${line}\n`);
  }

  private flushEcho(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partialLines[stream]) process.stderr.write(`[${this.name}] ${this.partialLines[stream]}\n`);
      this.partialLines[stream] = '';
    }
  }

  private tailSince(mark: number): string {
    return `--- last ${ERROR_TAIL_LINES} lines of output ---\n${this.log.tail(ERROR_TAIL_LINES, mark)}`;
  }
}
