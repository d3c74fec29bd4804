/** `throughline bench`: the article's lessons, measured — naive vs each lesson, the knee, the floor, a BullMQ peer. */
import { Command, Option } from 'commander';
import { renderTables, runBench, SCENARIOS, writeReport, type Scenario } from '@throughline/bench';
import { usageError } from '../errors.js';

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
    .argument('<scenario>', `one of: ${SCENARIOS.join(', ')}`)
    .addOption(
      new Option('--size <size>', 'default (the figures in BENCHMARKS.md) or small (a check of the harness)')
        .choices(['default', 'small'])
        .default('default'),
    )
    .option('--out <dir>', 'where the JSON and HTML reports are written', 'bench-results')
    .option('--verify', 'check the ledger invariants after every pipeline row')
    .option(
      '--baseline <checkout>',
      'scaling: also run another checkout of throughline (built with pnpm build) side by side with this build',
    )
    .addHelpText(
      'after',
      '\nSee BENCHMARKS.md for what each scenario measures and the figures of a full run.\n',
    )
    .action(async (scenario: string, flags: BenchFlags) => {
      if (!(SCENARIOS as readonly string[]).includes(scenario)) {
        throw usageError(`unknown scenario '${scenario}': expected one of ${SCENARIOS.join(', ')}`);
      }
      const report = await runBench({
        scenario: scenario as Scenario,
        size: flags.size,
        verify: flags.verify ?? false,
        ...(flags.baseline === undefined ? {} : { baselineRoot: flags.baseline }),
        command: `throughline bench ${scenario} --size ${flags.size}${flags.baseline ? ` --baseline ${flags.baseline}` : ''}`,
        progress: (line) => process.stderr.write(`  ${line}\n`),
      });
      process.stdout.write(renderTables(report));
      const paths = writeReport(report, flags.out, `bench-${scenario}`);
      process.stdout.write(`\nreports: ${paths.json}, ${paths.html}\n`);
    });
}
