import { ServerStartError } from './errors.js';
import { removeTempDir } from './cleanup.js';
import { silentLogger, type Logger } from './logger.js';
import { OutputLog } from './output-log.js';
import { freePort } from './ports.js';
import { ProcessGroup, type ExitStatus, type SpawnSpec } from './process-group.js';
import type { ServerHandle } from './server-handle.js';
import { sleep, waitFor } from './wait.js';

export interface ManagedServerConfig {
  /** Names the server in messages, e.g. `redis-server`. */
  kind: string;
  /** The command that runs the server in the foreground on `port`. */
  launch(port: number): SpawnSpec;
  /** One readiness probe; `false` or a throw means "not yet". */
  isReady(port: number): Promise<boolean>;
  /** Sent to the server process to shut it down gracefully. */
  stopSignal: NodeJS.Signals;
  /** Owned by the server: removed by `stop()` and when the first start fails. */
  dataDir: string;
  logger?: Logger;
  /** Default: 30_000 ms. */
  startTimeoutMs?: number;
  /** Default: 10_000 ms. */
  stopTimeoutMs?: number;
}

/** How often a start is retried when another process grabbed the port first. */
const PORT_ATTEMPTS = 3;
const LOG_TAIL_LINES = 40;
/** Enough of the log to quote the tail of the last few runs. */
const LOG_KEPT_CHARS = 256 * 1024;

/** Runs one server process: start on a free port, graceful stop, SIGKILL, restart on the same port. */
export class ManagedServer {
  private group: ProcessGroup | undefined;
  private currentPort = 0;
  private stopped = false;
  private expectingExit = false;
  /** Where the current run's output starts in `log`. */
  private runMark = 0;
  private readonly log = new OutputLog(LOG_KEPT_CHARS);
  private readonly logger: Logger;
  /** Lifecycle calls run one after another, so a stop() racing a restart() cannot leave a server behind. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly config: ManagedServerConfig) {
    this.logger = config.logger ?? silentLogger;
  }

  /** Starts the server on a free port; on failure nothing is left running and the data dir is removed. */
  static async start(config: ManagedServerConfig): Promise<ManagedServer> {
    const server = new ManagedServer(config);
    try {
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        try {
          await server.launch(port);
          return server;
        } catch (e) {
          if (attempt >= PORT_ATTEMPTS || !server.lastRunHitBusyPort) throw e;
        }
      }
    } catch (e) {
      server.stopped = true;
      await removeTempDir(config.dataDir);
      throw e;
    }
  }

  get port(): number {
    return this.currentPort;
  }

  get pid(): number | undefined {
    return this.group && !this.group.hasExited ? this.group.pid : undefined;
  }

  /** What the server printed, over all its runs (the last 256 KiB). */
  output(): string {
    return this.log.text();
  }

  stop(): Promise<void> {
    return this.serialize(async () => {
      if (this.stopped) return;
      this.stopped = true;
      await this.shutDown();
      await removeTempDir(this.config.dataDir);
      this.logger.info(`${this.config.kind} on port ${this.currentPort} stopped`);
    });
  }

  kill(): Promise<void> {
    return this.serialize(async () => {
      const group = this.group;
      if (!group) return;
      const wasRunning = !group.hasExited;
      this.expectingExit = true;
      group.signalGroup('SIGKILL');
      await group.exited;
      if (wasRunning) this.logger.info(`${this.config.kind} on port ${this.currentPort} killed`);
    });
  }

  restart(): Promise<void> {
    return this.serialize(async () => {
      if (this.stopped) {
        throw new ServerStartError(
          this.config.kind,
          'cannot restart: it was stopped and its data removed',
          '',
        );
      }
      await this.shutDown();
      // The port is ours, but a parallel freePort() may have been handed it for a moment: retry briefly.
      for (let attempt = 1; ; attempt++) {
        try {
          await this.launch(this.currentPort);
          return;
        } catch (e) {
          if (attempt >= PORT_ATTEMPTS || !this.lastRunHitBusyPort) throw e;
          await sleep(200);
        }
      }
    });
  }

  private get lastRunHitBusyPort(): boolean {
    return /address already in use/i.test(this.log.since(this.runMark));
  }

  private async launch(port: number): Promise<void> {
    const { kind } = this.config;
    const timeoutMs = this.config.startTimeoutMs ?? 30_000;
    this.currentPort = port;
    this.runMark = this.log.totalChars;
    this.expectingExit = false;
    const group = ProcessGroup.spawn(this.config.launch(port), (text) => this.log.append(text));
    this.group = group;
    void group.exited.then((status) => this.onExit(group, status));

    try {
      await waitFor(async () => group.hasExited || (await this.config.isReady(port)), {
        timeoutMs,
        message: `not ready on port ${port} within ${timeoutMs} ms`,
      });
    } catch (e) {
      this.expectingExit = true;
      group.signalGroup('SIGKILL');
      await group.exited;
      throw new ServerStartError(kind, (e as Error).message, this.log.tail(LOG_TAIL_LINES, this.runMark), {
        cause: e,
      });
    }
    if (group.hasExited) {
      const status = await group.exited;
      throw new ServerStartError(
        kind,
        `exited (${describeExit(status)}) before it was ready on port ${port}`,
        this.log.tail(LOG_TAIL_LINES, this.runMark),
      );
    }
    this.logger.info(`${kind} ready on 127.0.0.1:${port} (pid ${group.pid ?? '?'})`);
  }

  /** Graceful shutdown of the running process, SIGKILL after the stop timeout. */
  private async shutDown(): Promise<void> {
    const group = this.group;
    if (!group || group.hasExited) {
      await group?.exited;
      return;
    }
    this.expectingExit = true;
    group.signalLeader(this.config.stopSignal);
    const timer = setTimeout(() => {
      this.logger.warn(
        `${this.config.kind} on port ${this.currentPort} ignored ${this.config.stopSignal}: killing it`,
      );
      group.signalGroup('SIGKILL');
    }, this.config.stopTimeoutMs ?? 10_000);
    try {
      await group.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private onExit(group: ProcessGroup, status: ExitStatus): void {
    if (group !== this.group || this.expectingExit) return;
    this.logger.warn(
      `${this.config.kind} on port ${this.currentPort} exited unexpectedly (${describeExit(status)}):\n` +
        this.log.tail(LOG_TAIL_LINES, this.runMark),
    );
  }

  private serialize<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step, step);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

export function describeExit(status: ExitStatus): string {
  if (status.signal) return `signal ${status.signal}`;
  return status.code === null ? 'could not be started' : `code ${status.code}`;
}

/** The lifecycle half of every handle; subclasses add `url` and their extras. */
export abstract class ManagedServerHandle implements ServerHandle {
  constructor(protected readonly server: ManagedServer) {}

  abstract get url(): string;

  get port(): number {
    return this.server.port;
  }

  get pid(): number | undefined {
    return this.server.pid;
  }

  output(): string {
    return this.server.output();
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  kill(): Promise<void> {
    return this.server.kill();
  }

  restart(): Promise<void> {
    return this.server.restart();
  }
}
