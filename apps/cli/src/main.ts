#!/usr/bin/env node
/**
 * `throughline` — the command line of throughline: `demo` (embedded mode, nothing to install), `up` (the
 * distributed stack as local processes), `load`, `status`, `verify`, `dlq`, `config`, `explain` and `bench`.
 *
 * Exit codes: 0 success, 1 failure (a server unreachable, an invariant violated), 2 usage error, 130 interrupted.
 * Errors are one line saying what to do; `--verbose` adds the stack trace and causes.
 */
import { Command, CommanderError } from 'commander';
import { benchCommand } from './commands/bench.js';
import { clientsCommand } from './commands/clients.js';
import { configCommand } from './commands/config.js';
import { demoCommand } from './commands/demo.js';
import { dlqCommand } from './commands/dlq.js';
import { explainCommand } from './commands/explain.js';
import { loadCommand } from './commands/load.js';
import { statusCommand } from './commands/status.js';
import { topologyCommand } from './commands/topology.js';
import { traceCommand } from './commands/trace.js';
import { upCommand } from './commands/up.js';
import { verifyCommand } from './commands/verify.js';
import { dbCommand } from './commands/db.js';
import { ExitCode, isCliError, oneLine } from './errors.js';
import { redactSecrets } from '@throughline/runtime';

const verbose = process.argv.includes('--verbose');

function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command: errors on one line with where to find help, and thrown (not exited) so main decides the code. */
function configure(cmd: Command): void {
  cmd
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({
      // A usage error quotes the argument given, which may hold a password: printed redacted.
      outputError: (message, write) =>
        write(redactSecrets(`${oneLine(message)} (see \`${fullName(cmd)} --help\`)\n`)),
    });
  for (const sub of cmd.commands) configure(sub);
}

function createProgram(): Command {
  const program = new Command('throughline')
    .description('a high-throughput keyed event pipeline that shows where the time goes')
    .version('0.1.0')
    .option('--verbose', 'on failure, print the stack trace and causes')
    .addCommand(demoCommand())
    .addCommand(upCommand())
    .addCommand(loadCommand())
    .addCommand(statusCommand())
    .addCommand(topologyCommand())
    .addCommand(verifyCommand())
    .addCommand(dbCommand())
    .addCommand(dlqCommand())
    .addCommand(configCommand())
    .addCommand(clientsCommand())
    .addCommand(explainCommand())
    .addCommand(traceCommand())
    .addCommand(benchCommand())
    .addHelpText(
      'after',
      '\nStart with: throughline demo\nExit codes: 0 ok, 1 failure (unreachable server, violated invariant), 2 usage error, 130 interrupted',
    );
  configure(program);
  return program;
}

/** Writes to stderr with every credential redacted (an error may quote a connection string). */
function printError(text: string): void {
  process.stderr.write(redactSecrets(text));
}

function report(err: unknown): void {
  const message = oneLine(err);
  printError(`error: ${message}\n`);
  if (verbose && err instanceof Error) {
    printError(`${err.stack ?? ''}\n`);
    for (
      let cause = err.cause;
      cause !== undefined;
      cause = cause instanceof Error ? cause.cause : undefined
    ) {
      printError(
        `caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : JSON.stringify(cause)}\n`,
      );
    }
  }
}

async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end "with an error" in commander's terms; the message was printed already.
      if (err.exitCode === 0) return ExitCode.ok;
      return ExitCode.usage;
    }
    report(err);
    return isCliError(err) ? err.exitCode : ExitCode.failure;
  }
}

const code = await main(process.argv);
// Clients, timers and worker threads are closed by the commands; exiting here also ends whatever a failure left.
process.exit(code);
