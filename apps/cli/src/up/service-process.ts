/** One service of `throughline up`: a child process whose log lines go to the shared stream. */
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { createInterface } from 'node:readline';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';
import { CliError } from '../errors.js';
import {
  readyPortsOf,
  type App,
  type ExitStatus,
  type LaunchedService,
  type ReadyPorts,
  type ServiceSpec,
} from '@throughline/stack';

const TAIL_LINES = 8;

export type { ExitStatus };

function describe(status: ExitStatus): string {
  return status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
}

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

/** One service of `up`: a child process whose log lines go to the shared stream. */
export class ServiceProcess implements LaunchedService {
  readonly name: string;
  /** The app it runs (`state`). */
  readonly app: App;
  readonly exited: Promise<ExitStatus>;
  /** The port of /readyz, once the service said it is ready. */
  httpPort: number | undefined;
  /** The port of its gRPC API (ingest, config), once it said it is ready; what it bound when asked for port 0. */
  grpcPort: number | undefined;
  private readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private status: ExitStatus | undefined;
  private onReadyLine: ((ports: ReadyPorts) => void) | undefined;

  constructor(
    spec: ServiceSpec,
    main: string,
    write: (name: string, line: string, stream: 'stdout' | 'stderr') => void,
  ) {
    this.name = spec.name;
    this.app = spec.app;
    // Its own process group: Ctrl-C in the terminal reaches `up` only, which then stops each service once.
    this.child = spawn(process.execPath, [...SERVICE_NODE_FLAGS, main], {
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: this.child[stream]! }).on('line', (line) => {
        this.tail.push(line);
        if (this.tail.length > TAIL_LINES) this.tail.shift();
        const ready = stream === 'stdout' ? readyPortsOf(line) : undefined;
        if (ready) this.onReadyLine?.(ready);
        write(this.name, line, stream);
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.status = { code, signal };
        resolve(this.status);
      });
      this.child.once('error', () => {
        this.status = { code: 1, signal: null };
        resolve(this.status);
      });
    });
  }

  get running(): boolean {
    return this.status === undefined;
  }

  /** Resolves once the service logged "ready" and its /readyz answers 200; rejects if it exits or times out first. */
  async ready(timeoutMs: number): Promise<ReadyPorts> {
    const deadline = Date.now() + timeoutMs;
    const logged = new Promise<ReadyPorts>((resolve) => (this.onReadyLine = resolve));
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      logged.then((ports) => ({ ports })),
      this.exited.then((status) => ({ status })),
      new Promise<{ timeout: true }>(
        (resolve) => (timer = setTimeout(() => resolve({ timeout: true }), timeoutMs)),
      ),
    ]);
    clearTimeout(timer);
    if ('status' in outcome) throw this.failure(`${describe(outcome.status)} while starting`);
    if ('timeout' in outcome) throw this.failure(`was not ready within ${timeoutMs / 1000} s`);
    this.httpPort = outcome.ports.httpPort;
    this.grpcPort = outcome.ports.grpcPort;
    while (!(await readyz(outcome.ports.httpPort))) {
      if (!this.running) throw this.failure(`${describe(this.status!)} while starting`);
      if (Date.now() > deadline)
        throw this.failure(`did not report ready on /readyz within ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return outcome.ports;
  }

  /** SIGTERM (the service drains), then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<ExitStatus> {
    if (this.running) this.signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL');
        resolve();
      }, timeoutMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.running || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, signal);
    } catch {
      // already gone
    }
  }

  /** A one-line error naming the service, what happened and its last output line. */
  failure(what: string): CliError {
    const last = [...this.tail].reverse().find((l) => l.trim() !== '');
    let detail = last ?? '';
    try {
      const record = JSON.parse(detail) as { msg?: unknown; err?: { message?: unknown }; error?: unknown };
      detail = [record.msg, record.err?.message ?? record.error].filter(Boolean).map(String).join(': ');
    } catch {
      // not JSON: keep the line
    }
    return new CliError(`${this.name} ${what}${detail ? ` (last output: ${detail.slice(0, 300)})` : ''}`);
  }

  exitDescription(): string {
    return this.status ? describe(this.status) : 'is running';
  }
}
