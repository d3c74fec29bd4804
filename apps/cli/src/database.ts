/** Opening the database a command works on: a PostgreSQL server, or an embedded data directory. */
import { Option, type Command } from 'commander';
import pg from 'pg';
import { DEFAULT_DATA_DIR, EmbeddedDatabase, hasDatabase } from '@throughline/embedded';
import { redactSecrets } from '@throughline/runtime';
import { CliError } from './errors.js';
import { url } from './options.js';

export interface DatabaseTarget {
  pool: pg.Pool;
  /** Where it is, for messages (the URL without its password, or the directory). */
  description: string;
  close(): Promise<void>;
}

/** The URL without its password or secret parameters, for messages. */
export function redactUrl(url: string): string {
  return redactSecrets(url);
}

export function openPostgres(url: string): DatabaseTarget {
  const pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: 5000 });
  pool.on('error', () => undefined); // an idle connection dropping is no failure of a one-shot command
  return { pool, description: redactUrl(url), close: () => pool.end() };
}

export async function openDataDir(dir: string): Promise<DatabaseTarget> {
  if (!hasDatabase(dir)) {
    throw new CliError(
      `no embedded database in ${dir}: run \`throughline demo\` first, or pass --database-url`,
    );
  }
  const db = await EmbeddedDatabase.open({ dataDir: dir, create: false });
  return { pool: db.pool, description: db.dataDir, close: () => db.close() };
}

/** Turns a driver failure into one line saying what to do. */
export function databaseError(err: unknown, target: DatabaseTarget): CliError {
  const message = err instanceof Error ? err.message : String(err);
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|timeout|terminated unexpectedly|EAI_AGAIN/i.test(message)) {
    return new CliError(
      `cannot reach PostgreSQL at ${target.description} (${message}); is it running? Set --database-url or DATABASE_URL`,
      { cause: err },
    );
  }
  if (/relation "(ledger|balances|tenant_config_history)" does not exist/.test(message)) {
    return new CliError(
      `${target.description} has no throughline schema: start the stack (throughline up) or run the demo first`,
      { cause: err },
    );
  }
  return new CliError(`${target.description}: ${message}`, { cause: err });
}

/** The flags of a command that reads the ledger: a PostgreSQL URL or an embedded data directory. */
export interface DatabaseFlags {
  databaseUrl?: string;
  dataDir?: string;
}

/** Adds `--database-url` and `--data-dir` to a command that reads the ledger (`verb`: what it does with it). */
export function withDatabaseOptions(cmd: Command, verb: string): Command {
  return cmd
    .addOption(
      new Option('--database-url <url>', `PostgreSQL to ${verb} (default: DATABASE_URL when set)`)
        .argParser(url('postgres', 'postgresql'))
        .conflicts('dataDir'),
    )
    .addOption(
      new Option(
        '--data-dir <dir>',
        `embedded database to ${verb} (default when DATABASE_URL is not set: ${DEFAULT_DATA_DIR})`,
      ),
    );
}

/** Opens what the flags name: `--database-url`, else DATABASE_URL unless `--data-dir` is given, else the directory. */
export async function openDatabase(flags: DatabaseFlags): Promise<DatabaseTarget> {
  const envUrl = process.env.DATABASE_URL;
  if (flags.databaseUrl !== undefined) return openPostgres(flags.databaseUrl);
  if (flags.dataDir === undefined && envUrl) return openPostgres(url('postgres', 'postgresql')(envUrl));
  return openDataDir(flags.dataDir ?? DEFAULT_DATA_DIR);
}
