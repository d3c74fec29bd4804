/**
 * `throughline bench`: the article's lessons, measured — naive vs each lesson, the knee, the floor, a BullMQ peer.
 * The benchmarks (BullMQ, chart.js, the test kit) are an optional part: loaded only when this command runs, so a
 * user who never benchmarks does not install them (`@throughline/bench` is an optional peer of the CLI).
 */
import { Command, Option } from 'commander';
import { CliError, usageError } from '../errors.js';

/** The scenarios of `@throughline/bench` (its `SCENARIOS`; a test keeps the two lists equal). */
export const BENCH_SCENARIOS = [
  'ablation',
  'sweep',
  'floor',
  'peer',
  'scaling',
  'security',
  'replication',
  'footprint',
  'startup',
  'soak',
  'all',
] as const;

interface BenchFlags {
  size: 'default' | 'small';
  out: string;
  verify?: boolean;
  baseline?: string;
}

export function benchCommand(): Command {
  return new Command('bench')
    .description(
      'run a benchmark against fresh nats-server, redis-server and PostgreSQL instances and the services as processes',
    )
    .argument('<scenario>', `one of: ${BENCH_SCENARIOS.join(', ')}`)
    .addOption(
      new Option('--size <size>', 'default (the figures in BENCHMARKS.md) or small (a check of the harness)')
        .choices(['default', 'small'])
        .default('default'),
    )
    .option('--out <dir>', 'where the JSON and HTML reports are written', 'bench-results')
    .option('--verify', 'check the ledger invariants after every pipeline row')
    .option(
      '--baseline <checkout>',
      'scaling, startup: also run another checkout of throughline (built with pnpm build) side by side with this build',
    )
    .addHelpText(
      'after',
      '\nSee BENCHMARKS.md for what each scenario measures and the figures of a full run.\n',
    )
    .action(async (scenario: string, flags: BenchFlags) => {
      if (!(BENCH_SCENARIOS as readonly string[]).includes(scenario)) {
        throw usageError(`unknown scenario '${scenario}': expected one of ${BENCH_SCENARIOS.join(', ')}`);
      }
      const bench = await loadBench();
      const report = await bench.runBench({
        scenario: scenario as (typeof BENCH_SCENARIOS)[number],
        size: flags.size,
        verify: flags.verify ?? false,
        ...(flags.baseline === undefined ? {} : { baselineRoot: flags.baseline }),
        command: `throughline bench ${scenario} --size ${flags.size}${flags.baseline ? ` --baseline ${flags.baseline}` : ''}`,
        progress: (line) => process.stderr.write(`  ${line}\n`),
      });
      process.stdout.write(bench.renderTables(report));
      const paths = bench.writeReport(report, flags.out, `bench-${scenario}`);
      process.stdout.write(`\nreports: ${paths.json}, ${paths.html}\n`);
      // A soak that lost or doubled an event, or dead-lettered one, fails the command.
      if (report.soak !== undefined && !report.soak.ok) process.exitCode = 1;
    });
}

async function loadBench(): Promise<typeof import('@throughline/bench')> {
  try {
    return await import('@throughline/bench');
  } catch (err) {
    if (
      (err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' &&
      String(err).includes('@throughline/bench')
    )
      throw new CliError(
        'the benchmarks are an optional part of throughline: install @throughline/bench beside the CLI (in this repository: pnpm install)',
        { cause: err },
      );
    throw err;
  }
}
