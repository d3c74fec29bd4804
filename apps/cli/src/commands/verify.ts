/** `throughline verify`: the ledger's invariants against PostgreSQL or an embedded data directory. */
import { Command, Option } from 'commander';
import pc from 'picocolors';
import { verifyLedger } from '@throughline/stores';
import { databaseError, openDatabase, withDatabaseOptions, type DatabaseFlags } from '../database.js';
import { renderViolations } from '../demo/summary.js';
import { ExitCode } from '../errors.js';
import { count, seconds } from '../format.js';
import { positiveInt } from '../options.js';

interface VerifyFlags extends DatabaseFlags {
  maxViolations: number;
  json?: boolean;
}

const INVARIANTS = [
  'every event has exactly one ledger row (event_id is the key)',
  'no effect applied twice (running balance per account)',
  'each balance equals the sum of its applied entries',
  'positions per account strictly increase',
  'no debit below the overdraft limit of its configuration version',
];

export function verifyCommand(): Command {
  return withDatabaseOptions(
    new Command('verify').description('check the ledger invariants; exits 0 only when none is violated'),
    'check',
  )
    .addOption(
      new Option('--max-violations <n>', 'violations listed at most').argParser(positiveInt).default(100),
    )
    .option('--json', 'print the report as JSON')
    .addHelpText('after', `\nInvariants:\n${INVARIANTS.map((i) => `  - ${i}`).join('\n')}\n`)
    .action(async (flags: VerifyFlags) => {
      const target = await openDatabase(flags);
      const started = performance.now();
      try {
        const report = await verifyLedger(target.pool, { maxViolations: flags.maxViolations }).catch(
          (err: unknown) => {
            throw databaseError(err, target);
          },
        );
        const took = performance.now() - started;
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ target: target.description, ...report }, null, 2)}\n`);
        } else if (report.ok) {
          process.stdout.write(
            `${pc.green('OK')}: ${count(report.checkedEvents)} ledger rows and ${count(report.checkedAccounts)} accounts in ${target.description} ` +
              `hold every invariant (${seconds(took)})\n`,
          );
        } else {
          process.stdout.write(
            `${pc.red(`FAILED: ${count(report.totalViolations)} violations`)} in ${target.description} ` +
              `(${count(report.checkedEvents)} ledger rows, ${count(report.checkedAccounts)} accounts)\n` +
              `${renderViolations(report.violations, report.totalViolations)}\n`,
          );
        }
        if (!report.ok) process.exitCode = ExitCode.failure;
      } finally {
        await target.close();
      }
    });
}
