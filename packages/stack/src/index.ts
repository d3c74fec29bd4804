/**
 * @throughline/stack — the one launcher of the distributed stack as local processes: the services and their start
 * order (`StackPlan`), the ready line they report (`readyPortsOf`), and `Stack`, which starts them, adds or removes
 * instances of a stage while they run, and stops them. `throughline up`, the end-to-end tests and the benchmarks all
 * launch the stack with it; each brings its own way to spawn a process.
 *
 * ```ts
 * const stack = await Stack.start({ settings, spawn: (spec) => mySpawn(mainOf(spec.app), spec.env) });
 * await stack.scale('state', 3, 30_000); // a third state instance takes its share of the partitions
 * await stack.stop(30_000);
 * ```
 */
export {
  APPS,
  STAGE_APPS,
  StackPlan,
  type App,
  type ServiceSpec,
  type StackSettings,
  type StageApp,
} from './plan.js';
export { READY_LINE, readyPortsOf, type ReadyPorts } from './ready-line.js';
export { mainOf, MissingServiceError } from './mains.js';
export { Stack, type ExitStatus, type LaunchedService, type LaunchOptions } from './launcher.js';
export { OutputService, type OutputProcess } from './output-process.js';
