/**
 * Runs the distributed stack as local processes: start in order, wait for readiness, add or remove instances of
 * a stage on request while it runs, stop on a signal.
 */
import { createInterface } from 'node:readline';
import pc from 'picocolors';
import { redactUrl } from '../database.js';
import { CliError, ExitCode } from '../errors.js';
import { prefixer, prettyLine } from './log-lines.js';
import { ServiceProcess } from './service-process.js';
import {
  mainOf,
  STAGE_APPS,
  StackPlan,
  type ServiceSpec,
  type StackSettings,
  type StageApp,
} from './services.js';

export interface RunStackOptions {
  settings: StackSettings;
  readyTimeoutMs: number;
  /** How long a service may drain after SIGTERM before it is killed. */
  stopTimeoutMs: number;
  /** Pretty-print the services' JSON logs (false: pass them through, prefixed). */
  pretty: boolean;
  out: NodeJS.WriteStream;
  /** Lines of control commands (`scale state 3`), when given. */
  control?: NodeJS.ReadableStream;
}

const CONTROL_HELP = 'scale <enrich|state|writer> <instances>';

/** Resolves with the exit code once the stack has stopped (Ctrl-C: 0 after a clean drain; a crash: 1). */
export async function runStack(o: RunStackOptions): Promise<ExitCode> {
  const plan = new StackPlan({ ...o.settings });
  const mains = new Map(['config', 'ingest', ...STAGE_APPS].map((app) => [app, mainOf(app)]));
  const names = [
    'config',
    'ingest',
    ...STAGE_APPS.flatMap((app) => Array.from({ length: o.settings.partitions }, (_, i) => `${app}-${i}`)),
  ];
  const prefix = prefixer(names);
  const write = (name: string, line: string, stream: 'stdout' | 'stderr'): void => {
    const text = o.pretty ? prettyLine(line) : line;
    o.out.write(`${prefix(name)}${stream === 'stderr' ? pc.red(text) : text}\n`);
  };
  const services: ServiceProcess[] = [];
  /** Services stopped on purpose (scaled down or at the end): their exit is no crash. */
  const retiring = new Set<ServiceProcess>();
  let crashed: (service: ServiceProcess) => void = () => undefined;
  const crash = new Promise<ServiceProcess>((resolve) => (crashed = resolve));
  const launch = (spec: ServiceSpec): ServiceProcess => {
    const service = new ServiceProcess(spec, mains.get(spec.app)!, write);
    services.push(service);
    void service.exited.then(() => {
      if (!retiring.has(service)) crashed(service);
    });
    return service;
  };
  // Should `up` itself die, its services (in their own process groups) must not live on.
  const killAll = (): void => services.forEach((s) => s.signal('SIGKILL'));
  process.once('exit', killAll);

  let stopping: Promise<ExitCode> | undefined;
  let onStopped: (code: ExitCode) => void = () => undefined;
  const stop = (code: ExitCode): Promise<ExitCode> => {
    stopping ??= (async () => {
      o.out.write(pc.bold('stopping the stack (SIGTERM to each service; they drain first)\n'));
      const running = services.filter((s) => s.running);
      for (const s of running) retiring.add(s);
      const statuses = await Promise.all(running.map((s) => s.stop(o.stopTimeoutMs)));
      const unclean = statuses.filter((s) => s.code !== 0 && s.code !== null).length;
      o.out.write(pc.bold(`stopped${unclean ? ` (${unclean} services exited with an error)` : ''}\n`));
      onStopped(code);
      return code;
    })();
    return stopping;
  };
  let signals = 0;
  const onSignal = (): void => {
    if (++signals > 1) {
      killAll();
      process.exit(ExitCode.interrupted);
    }
    void stop(ExitCode.ok);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  // Addresses with port 0 are what the service bound, read from its ready line: the config service's before the
  // services that call it start.
  try {
    const config = launch(plan.config());
    await config.waitUntilReady(o.readyTimeoutMs);
    plan.settings.configAddress = boundAddress(plan.settings.configAddress, config);
    const ingest = launch(plan.ingest());
    const started = [ingest, ...plan.stages().map(launch)];
    await Promise.all(started.map((service) => service.waitUntilReady(o.readyTimeoutMs)));
    plan.settings.ingestAddress = boundAddress(plan.settings.ingestAddress, ingest);
  } catch (err) {
    if (stopping) return stopping;
    await stop(ExitCode.failure);
    throw err;
  }
  if (stopping) return stopping;
  const s = plan.settings;
  o.out.write(
    pc.bold(pc.green('throughline is up')) +
      `: ingest on ${s.ingestAddress}, config on ${s.configAddress}, ${s.partitions} partitions, ${services.length} processes\n` +
      pc.dim(
        `  try: throughline load --target ${s.ingestAddress} --events 200000, then throughline verify --database-url ${redactUrl(s.databaseUrl)}; ` +
          `throughline status shows who owns which partition${o.control ? `; type \`${CONTROL_HELP}\` to scale a stage while it runs` : ''}; Ctrl-C stops\n`,
      ),
  );

  const scale = async (app: StageApp, instances: number): Promise<void> => {
    const current = services.filter((x) => x.app === app && x.running && !retiring.has(x));
    if (instances > current.length) {
      const added = Array.from({ length: instances - current.length }, () => launch(plan.instance(app)));
      await Promise.all(added.map((x) => x.waitUntilReady(o.readyTimeoutMs)));
    } else {
      // The newest go first; each drains (finishes its turns, releases its partitions) before it exits.
      const leaving = current.slice(instances);
      for (const x of leaving) retiring.add(x);
      await Promise.all(leaving.map((x) => x.stop(o.stopTimeoutMs)));
    }
    const now = services.filter((x) => x.app === app && x.running).map((x) => x.name);
    o.out.write(
      pc.bold(`${app}: ${now.length} instances (${now.join(', ')}); its partitions move to them\n`),
    );
  };
  const control = o.control ? controlLines(o.control, s.partitions, scale, o.out) : undefined;

  // A signal sets `stopping` while we wait: race a promise that stop() resolves, not the value of `stopping` now.
  const stopped = new Promise<ExitCode>((resolve) => (onStopped = resolve));
  const ended = await Promise.race([stopped, crash]);
  control?.close();
  if (typeof ended === 'number') return ended;
  if (stopping) return stopping;
  await stop(ExitCode.failure);
  throw new CliError(
    `${ended.name} ${ended.exitDescription()} unexpectedly; the stack was stopped (its log is above)`,
  );
}

/** Reads `scale <stage> <n>` lines and runs them one after another; anything else gets a one-line answer. */
function controlLines(
  input: NodeJS.ReadableStream,
  partitions: number,
  scale: (app: StageApp, instances: number) => Promise<void>,
  out: NodeJS.WriteStream,
): { close(): void } {
  const lines = createInterface({ input });
  let queue = Promise.resolve();
  lines.on('line', (line) => {
    const words = line.trim().split(/\s+/);
    if (words[0] === '') return;
    const app = STAGE_APPS.find((a) => a === words[1]);
    const n = Number(words[2]);
    if (words[0] !== 'scale' || app === undefined || !Number.isInteger(n) || n < 1 || n > partitions) {
      out.write(pc.yellow(`commands: ${CONTROL_HELP} (1 to ${partitions} instances)\n`));
      return;
    }
    queue = queue
      .then(() => scale(app, n))
      .catch((err: unknown) => void out.write(pc.red(`scale ${app} ${n} failed: ${String(err)}\n`)));
  });
  return { close: () => lines.close() };
}

/** `address` with the port the service reported in place of a requested port 0. */
function boundAddress(address: string, service: ServiceProcess | undefined): string {
  if (!address.endsWith(':0')) return address;
  if (service?.grpcPort === undefined)
    throw new CliError(`${service?.name ?? 'a service'} did not report the port it bound for ${address}`);
  return `${address.slice(0, -1)}${service.grpcPort}`;
}
