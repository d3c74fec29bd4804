/** `throughline demo`: the embedded pipeline end to end, with a live display and a summary. */
import { Command, Option } from 'commander';
import pc from 'picocolors';
import {
  DEFAULT_DATA_DIR,
  isEmbeddedError,
  prepareFreshDataDir,
  runDemo,
  type DemoReport,
} from '@throughline/embedded';
import { createProgressView } from '../demo/progress-view.js';
import { renderSummary } from '../demo/summary.js';
import { CliError, ExitCode } from '../errors.js';
import { count } from '../format.js';
import { nonNegativeNumber, positiveInt } from '../options.js';
import { interruptSignal } from '../signals.js';

/** The demo's workload and data directory as flags (`--partitions` is the report's `partitions`). */
interface DemoFlags extends Pick<
  DemoReport,
  'events' | 'accounts' | 'tenants' | 'seed' | 'skew' | 'partitions' | 'dataDir'
> {
  json?: boolean;
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('run events through the embedded pipeline (nothing to install) and verify the ledger')
    .addOption(new Option('--events <n>', 'events to generate').argParser(positiveInt).default(1_000_000))
    .addOption(new Option('--accounts <n>', 'distinct accounts').argParser(positiveInt).default(100_000))
    .addOption(new Option('--tenants <n>', 'tenants (all configured)').argParser(positiveInt).default(5))
    .addOption(
      new Option('--seed <n>', 'workload seed: the same seed gives the same events')
        .argParser(positiveInt)
        .default(1),
    )
    .addOption(
      new Option('--skew <s>', 'zipf exponent of the account distribution (0 = uniform)')
        .argParser(nonNegativeNumber)
        .default(0.8),
    )
    .addOption(
      new Option('--partitions <n>', 'partitions, one actor per stage each')
        .argParser(positiveInt)
        .default(8),
    )
    .addOption(
      new Option('--data-dir <dir>', 'embedded database directory, emptied first').default(DEFAULT_DATA_DIR),
    )
    .option('--json', 'print the summary as JSON')
    .action(async (flags: DemoFlags) => {
      const out = process.stdout;
      try {
        prepareFreshDataDir(flags.dataDir);
      } catch (err) {
        if (isEmbeddedError(err, 'EMBEDDED_INVALID_ARGUMENT'))
          throw new CliError(err.message, { exitCode: ExitCode.usage, cause: err });
        throw err;
      }
      if (!flags.json) {
        out.write(
          `${pc.bold('throughline demo')}: ${count(flags.events)} events, ${count(flags.accounts)} accounts, ` +
            `${flags.tenants} tenants, seed ${flags.seed}, ${flags.partitions} partitions — embedded mode\n`,
        );
      }
      const view = flags.json ? undefined : createProgressView(out);
      const interrupt = interruptSignal();
      let report;
      try {
        report = await runDemo({
          events: flags.events,
          accounts: flags.accounts,
          tenants: flags.tenants,
          seed: flags.seed,
          skew: flags.skew,
          partitionCount: flags.partitions,
          dataDir: flags.dataDir,
          signal: interrupt.signal,
          progressIntervalMs: out.isTTY ? 200 : 1000,
          ...(view ? { onProgress: (p) => view.update(p) } : {}),
        });
      } catch (err) {
        if (interrupt.signal.aborted) throw new CliError('interrupted', { exitCode: ExitCode.interrupted });
        throw err;
      } finally {
        interrupt.dispose();
        view?.finish();
      }
      out.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${renderSummary(report)}\n`);
      if (!report.verify.ok) process.exitCode = ExitCode.failure;
    });
}
