/** Runs the distributed stack as local processes: start in order, wait for readiness, stop on a signal. */
import pc from 'picocolors';
import { redactUrl } from '../database.js';
import { CliError, ExitCode } from '../errors.js';
import { prefixer, prettyLine } from './log-lines.js';
import { ServiceProcess } from './service-process.js';
import { mainOf, stackServices, type StackSettings } from './services.js';

export interface RunStackOptions {
  settings: StackSettings;
  readyTimeoutMs: number;
  /** How long a service may drain after SIGTERM before it is killed. */
  stopTimeoutMs: number;
  /** Pretty-print the services' JSON logs (false: pass them through, prefixed). */
  pretty: boolean;
  out: NodeJS.WriteStream;
}

/** Resolves with the exit code once the stack has stopped (Ctrl-C: 0 after a clean drain; a crash: 1). */
export async function runStack(o: RunStackOptions): Promise<ExitCode> {
  const { first, rest } = stackServices(o.settings);
  const specs = [first, ...rest];
  const mains = new Map(specs.map((s) => [s.app, mainOf(s.app)]));
  const prefix = prefixer(specs.map((s) => s.name));
  const write = (name: string, line: string, stream: 'stdout' | 'stderr'): void => {
    const text = o.pretty ? prettyLine(line) : line;
    o.out.write(`${prefix(name)}${stream === 'stderr' ? pc.red(text) : text}\n`);
  };
  const services: ServiceProcess[] = [];
  const launch = (spec: (typeof specs)[number]): ServiceProcess => {
    const service = new ServiceProcess(spec, mains.get(spec.app)!, write);
    services.push(service);
    return service;
  };
  // Should `up` itself die, its services (in their own process groups) must not live on.
  const killAll = (): void => services.forEach((s) => s.signal('SIGKILL'));
  process.once('exit', killAll);

  let stopping: Promise<ExitCode> | undefined;
  const stop = (code: ExitCode): Promise<ExitCode> => {
    stopping ??= (async () => {
      o.out.write(pc.bold('stopping the stack (SIGTERM to each service; they drain first)\n'));
      const statuses = await Promise.all(services.map((s) => s.stop(o.stopTimeoutMs)));
      const unclean = statuses.filter((s) => s.code !== 0 && s.code !== null).length;
      o.out.write(pc.bold(`stopped${unclean ? ` (${unclean} services exited with an error)` : ''}\n`));
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
  let s = o.settings;
  try {
    const config = launch(first);
    await config.waitUntilReady(o.readyTimeoutMs);
    s = { ...s, configAddress: boundAddress(s.configAddress, config) };
    const started = stackServices(s).rest.map((spec) => launch(spec));
    await Promise.all(started.map((service) => service.waitUntilReady(o.readyTimeoutMs)));
    s = {
      ...s,
      ingestAddress: boundAddress(
        s.ingestAddress,
        started.find((x) => x.name === 'ingest'),
      ),
    };
  } catch (err) {
    if (stopping) return stopping;
    await stop(ExitCode.failure);
    throw err;
  }
  if (stopping) return stopping;
  o.out.write(
    pc.bold(pc.green('throughline is up')) +
      `: ingest on ${s.ingestAddress}, config on ${s.configAddress}, ${s.partitions} partitions, ${services.length} processes\n` +
      pc.dim(
        `  try: throughline load --target ${s.ingestAddress} --events 200000, then throughline verify --database-url ${redactUrl(s.databaseUrl)}; Ctrl-C stops\n`,
      ),
  );

  const crashed = await Promise.race([
    stopping ?? new Promise<never>(() => undefined),
    ...services.map((s) => s.exited.then(() => s)),
  ]);
  if (typeof crashed === 'number') return crashed;
  if (stopping) return stopping;
  await stop(ExitCode.failure);
  throw new CliError(
    `${crashed.name} ${crashed.exitDescription()} unexpectedly; the stack was stopped (its log is above)`,
  );
}

/** `address` with the port the service reported in place of a requested port 0. */
function boundAddress(address: string, service: ServiceProcess | undefined): string {
  if (!address.endsWith(':0')) return address;
  if (service?.grpcPort === undefined)
    throw new CliError(`${service?.name ?? 'a service'} did not report the port it bound for ${address}`);
  return `${address.slice(0, -1)}${service.grpcPort}`;
}
