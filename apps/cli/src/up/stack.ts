/**
 * Runs the distributed stack as local processes with the one stack launcher (@throughline/stack): start in order,
 * wait for readiness, add or remove instances of a stage on request while it runs, stop on a signal.
 */
import { createInterface } from 'node:readline';
import pc from 'picocolors';
import {
  APPS,
  mainOf,
  MissingServiceError,
  Stack,
  STAGE_APPS,
  type StackSettings,
  type StageApp,
} from '@throughline/stack';
import { redactUrl } from '../database.js';
import { CliError, ExitCode } from '../errors.js';
import { prefixer, prettyLine } from './log-lines.js';
import { ServiceProcess } from './service-process.js';

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

/** The built entry point of every app, or a one-line error saying how to build it. */
function mains(): Map<string, string> {
  try {
    return new Map(APPS.map((app) => [app, mainOf(app)]));
  } catch (err) {
    if (err instanceof MissingServiceError) throw new CliError(err.message, { cause: err });
    throw err;
  }
}

/** Resolves with the exit code once the stack has stopped (Ctrl-C: 0 after a clean drain; a crash: 1). */
export async function runStack(o: RunStackOptions): Promise<ExitCode> {
  const main = mains();
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
  const launched: ServiceProcess[] = [];
  let stack: Stack<ServiceProcess> | undefined;
  let crashed: (service: ServiceProcess) => void = () => undefined;
  const crash = new Promise<ServiceProcess>((resolve) => (crashed = resolve));
  const watch = (service: ServiceProcess): void => {
    launched.push(service);
    void service.exited.then(() => {
      if (stack === undefined || !stack.isRetired(service)) crashed(service);
    });
  };
  // Should `up` itself die, its services (in their own process groups) must not live on.
  const killAll = (): void => launched.forEach((s) => s.signal('SIGKILL'));
  process.once('exit', killAll);

  let stopping: Promise<ExitCode> | undefined;
  let onStopped: (code: ExitCode) => void = () => undefined;
  const stop = (code: ExitCode): Promise<ExitCode> => {
    stopping ??= (async () => {
      o.out.write(pc.bold('stopping the stack (SIGTERM to each service; they drain first)\n'));
      const statuses = stack
        ? await stack.stop(o.stopTimeoutMs)
        : await Promise.all(launched.filter((s) => s.running).map((s) => s.stop(o.stopTimeoutMs)));
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

  try {
    stack = await Stack.start({
      settings: o.settings,
      readyTimeoutMs: o.readyTimeoutMs,
      stopTimeoutMs: o.stopTimeoutMs,
      spawn: (spec) => new ServiceProcess(spec, main.get(spec.app)!, write),
      onLaunch: watch,
    });
  } catch (err) {
    if (stopping) return stopping;
    await stop(ExitCode.failure);
    throw err;
  }
  if (stopping) return stopping;
  const running = stack;
  const s = running.settings;
  o.out.write(
    pc.bold(pc.green('throughline is up')) +
      `: ingest on ${s.ingestAddress}, config on ${s.configAddress}, ${s.partitions} partitions, ${launched.length} processes\n` +
      pc.dim(
        `  try: throughline load --target ${s.ingestAddress} --events 200000, then throughline verify --database-url ${redactUrl(s.databaseUrl)}; ` +
          `throughline status shows who owns which partition${o.control ? `; type \`${CONTROL_HELP}\` to scale a stage while it runs` : ''}; Ctrl-C stops\n`,
      ),
  );

  const scale = async (app: StageApp, instances: number): Promise<void> => {
    // New instances take a share of the partitions; the newest go first when fewer, each draining before it exits.
    await running.scale(app, instances, o.stopTimeoutMs);
    const now = running.running(app).map((x) => x.name);
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
