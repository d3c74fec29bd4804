/**
 * Starts the stack in order, reads the ports services bound from their ready lines, adds or removes instances of
 * a stage while it runs, and stops it — the same for `throughline up`, the end-to-end tests and the benchmarks.
 * How a process is spawned (and where its output goes) is the caller's: it passes a `spawn` function.
 */
import {
  StackPlan,
  STAGE_APPS,
  type App,
  type ServiceSpec,
  type StackSettings,
  type StageApp,
} from './plan.js';
import type { ReadyPorts } from './ready-line.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A service process as the launcher drives it. */
export interface LaunchedService {
  readonly name: string;
  readonly app: App;
  /** False once it exited. */
  readonly running: boolean;
  /** Resolves when it exited, however. */
  readonly exited: Promise<ExitStatus>;
  /** Resolves with the ports of its ready line; rejects when it exits or `timeoutMs` passes first. */
  ready(timeoutMs: number): Promise<ReadyPorts>;
  /** SIGTERM (it drains), SIGKILL after `timeoutMs`; resolves with how it exited. */
  stop(timeoutMs: number): Promise<ExitStatus>;
}

export interface LaunchOptions<S extends LaunchedService> {
  settings: StackSettings;
  spawn: (spec: ServiceSpec) => S;
  /** How long each service may take to report ready. Default 60000 ms. */
  readyTimeoutMs?: number;
  /** How long a service stopped at a failed start may drain. Default 5000 ms. */
  stopTimeoutMs?: number;
  /** Told of every service launched, later instances included (`up` watches them for crashes). */
  onLaunch?: (service: S) => void;
}

export class Stack<S extends LaunchedService = LaunchedService> {
  /** Every service launched, in order, the stopped ones included. */
  readonly services: S[] = [];
  /** The /metrics port of each service, by name, once it is ready. */
  readonly httpPorts = new Map<string, number>();
  private readonly retired = new Set<S>();
  private readonly plan: StackPlan;
  private readonly readyTimeoutMs: number;

  private constructor(private readonly opts: LaunchOptions<S>) {
    this.plan = new StackPlan({ ...opts.settings });
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  }

  /**
   * Starts config, waits for it (its address goes to the stages), then ingest and every stage instance, and waits
   * for all. On a failure, stops whatever started and rethrows.
   */
  static async start<S extends LaunchedService>(opts: LaunchOptions<S>): Promise<Stack<S>> {
    const stack = new Stack(opts);
    try {
      const config = stack.launch(stack.plan.config());
      stack.plan.settings.configAddress = bound(stack.plan.settings.configAddress, await stack.ready(config));
      const ingest = stack.launch(stack.plan.ingest());
      const stages = stack.plan.stages().map((spec) => stack.launch(spec));
      const [ingestPorts] = await Promise.all([stack.ready(ingest), ...stages.map((s) => stack.ready(s))]);
      stack.plan.settings.ingestAddress = bound(stack.plan.settings.ingestAddress, ingestPorts);
    } catch (err) {
      await stack.stop(opts.stopTimeoutMs ?? 5_000);
      throw err;
    }
    return stack;
  }

  /** The settings, with the addresses services bound for a requested port 0. */
  get settings(): Readonly<StackSettings> {
    return this.plan.settings;
  }

  /** The running instances of `app` (not retiring), oldest first. */
  running(app: App): S[] {
    return this.services.filter((s) => s.app === app && s.running && !this.retired.has(s));
  }

  /** Whether `service` was stopped on purpose (so its exit is no crash). */
  isRetired(service: S): boolean {
    return this.retired.has(service);
  }

  /** Starts one more instance of a stage (with `env` added to its environment) and waits until it is ready. */
  async add(app: StageApp, env: Record<string, string> = {}): Promise<S> {
    const spec = this.plan.instance(app);
    const service = this.launch({ ...spec, env: { ...spec.env, ...env } });
    await this.ready(service);
    return service;
  }

  /** Stops `service` on purpose: it drains (finishes its turns, releases its partitions), then exits. */
  retire(service: S, timeoutMs: number): Promise<ExitStatus> {
    this.retired.add(service);
    return service.stop(timeoutMs);
  }

  /** Brings a stage to `instances`: new ones start and take their share, the newest go first when fewer. */
  async scale(app: StageApp, instances: number, stopTimeoutMs: number): Promise<void> {
    if (!STAGE_APPS.includes(app)) throw new RangeError(`${app} is not a stage`);
    if (!Number.isInteger(instances) || instances < 1 || instances > this.plan.settings.partitions)
      throw new RangeError(
        `instances must be between 1 and ${this.plan.settings.partitions}, got ${instances}`,
      );
    const current = this.running(app);
    if (instances > current.length)
      await Promise.all(Array.from({ length: instances - current.length }, () => this.add(app)));
    else await Promise.all(current.slice(instances).map((s) => this.retire(s, stopTimeoutMs)));
  }

  /** Stops every running service (each drains first, SIGKILL after `timeoutMs`). */
  async stop(timeoutMs: number): Promise<ExitStatus[]> {
    const running = this.services.filter((s) => s.running);
    return Promise.all(running.map((s) => this.retire(s, timeoutMs)));
  }

  private launch(spec: ServiceSpec): S {
    const service = this.opts.spawn(spec);
    this.services.push(service);
    this.opts.onLaunch?.(service);
    return service;
  }

  private async ready(service: S): Promise<ReadyPorts> {
    const ports = await service.ready(this.readyTimeoutMs);
    this.httpPorts.set(service.name, ports.httpPort);
    return ports;
  }
}

/** `address` with the port a service reported in place of a requested port 0. */
function bound(address: string, ports: ReadyPorts): string {
  if (!address.endsWith(':0')) return address;
  if (ports.grpcPort === undefined) throw new Error(`no gRPC port in the ready line for ${address}`);
  return `${address.slice(0, -1)}${ports.grpcPort}`;
}
