/**
 * A `LaunchedService` over any process whose output is captured and searchable — the shape of the test kit's
 * `ServiceProcess`, matched structurally so this package needs no test kit.
 */
import type { ExitStatus, LaunchedService } from './launcher.js';
import type { App, ServiceSpec } from './plan.js';
import { READY_LINE, readyPortsOf, type ReadyPorts } from './ready-line.js';

export interface OutputProcess {
  readonly pid: number | undefined;
  readonly exited: Promise<ExitStatus>;
  /** Resolves with the first match in the output of its current run; rejects when it exits or times out first. */
  waitForOutput(pattern: RegExp, opts?: { timeoutMs?: number }): Promise<RegExpMatchArray>;
  kill(signal?: NodeJS.Signals): Promise<ExitStatus>;
  signal(signal: NodeJS.Signals): void;
}

export class OutputService<P extends OutputProcess> implements LaunchedService {
  readonly name: string;
  readonly app: App;

  constructor(
    spec: ServiceSpec,
    readonly process: P,
  ) {
    this.name = spec.name;
    this.app = spec.app;
  }

  get running(): boolean {
    return this.process.pid !== undefined;
  }

  get exited(): Promise<ExitStatus> {
    return this.process.exited;
  }

  async ready(timeoutMs: number): Promise<ReadyPorts> {
    const [line] = await this.process.waitForOutput(READY_LINE, { timeoutMs });
    const ports = readyPortsOf(line);
    if (ports === undefined) throw new Error(`${this.name}: its ready line has no httpPort: ${line}`);
    return ports;
  }

  async stop(timeoutMs: number): Promise<ExitStatus> {
    const timer = setTimeout(() => this.process.signal('SIGKILL'), timeoutMs);
    try {
      return await this.process.kill('SIGTERM');
    } finally {
      clearTimeout(timer);
    }
  }
}
