// The parts of running PostgreSQL that are not the server process: finding a matching set of binaries,
// the OS user it must run as when we are root, initdb, and psql.
import { realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  isExecutableFile,
  lookupBinary,
  postgresSearchDirs,
  requireBinary,
  searchDescription,
} from './binaries.js';
import { runCommand } from './command.js';
import { MissingBinaryError, ServerStartError } from './errors.js';

const SERVER_INSTALL_HINT = 'apt-get install postgresql';
const CLIENT_INSTALL_HINT = 'apt-get install postgresql-client';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  psql: string;
  /** For standbys; looked up next to initdb (following its symlink) when one is started. */
  binDirs: readonly string[];
}

/** pg_basebackup of the same installation as initdb. */
export function findBaseBackup(bins: PostgresBinaries): string {
  return requireBinary('pg_basebackup', SERVER_INSTALL_HINT, bins.binDirs, `next to ${bins.initdb}`);
}

/** initdb and postgres from the same directory (their versions must match), and a psql. */
export function findPostgresBinaries(binDirs: readonly string[] | undefined): PostgresBinaries {
  const dirs = binDirs ?? postgresSearchDirs();
  const where = searchDescription(binDirs) ?? 'on PATH or in /usr/lib/postgresql/*/bin';
  const initdb = requireBinary('initdb', SERVER_INSTALL_HINT, dirs, where);
  const binDir = dirname(initdb);
  const postgres = join(binDir, 'postgres');
  if (!isExecutableFile(postgres)) {
    throw new MissingBinaryError('postgres', SERVER_INSTALL_HINT, [binDir], `next to ${initdb}`);
  }
  const psql = lookupBinary('psql', [binDir]) ?? requireBinary('psql', CLIENT_INSTALL_HINT, dirs, where);
  return { initdb, postgres, psql, binDirs: [binDir, dirname(realpathSync(initdb))] };
}

/** The uid/gid to run PostgreSQL as: none when we are not root, else the `postgres` OS user. */
export interface OsUser {
  uid: number;
  gid: number;
}

let postgresUser: Promise<OsUser> | undefined;

export async function serverOsUser(): Promise<OsUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  postgresUser ??= lookupPostgresUser();
  return postgresUser;
}

async function lookupPostgresUser(): Promise<OsUser> {
  try {
    const uid = Number((await runCommand({ command: 'id', args: ['-u', 'postgres'] })).trim());
    const gid = Number((await runCommand({ command: 'id', args: ['-g', 'postgres'] })).trim());
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { uid, gid };
    throw new Error(`unexpected output of "id postgres": ${uid}/${gid}`);
  } catch (e) {
    postgresUser = undefined;
    throw new ServerStartError(
      'postgres',
      'PostgreSQL refuses to run as root and there is no "postgres" OS user to run it as ' +
        `(create one with "useradd --system postgres" or "${SERVER_INSTALL_HINT}")`,
      '',
      { cause: e },
    );
  }
}

/** Creates a cluster in `dataDir` (which must not exist yet) with a trusted superuser `postgres`. */
export async function initCluster(
  bins: PostgresBinaries,
  dataDir: string,
  cwd: string,
  user: OsUser | undefined,
): Promise<void> {
  try {
    await runCommand({
      command: bins.initdb,
      args: ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      cwd,
      ...user,
    });
  } catch (e) {
    throw new ServerStartError('postgres', 'initdb failed', (e as Error).message, { cause: e });
  }
}

/** The postgres command line: listen on 127.0.0.1:`port` only, socket in `socketDir`, durability off (tests only). */
export function postgresArgs(dataDir: string, socketDir: string, port: number): string[] {
  return [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    socketDir,
    '-c',
    'listen_addresses=127.0.0.1',
    // Crash safety against power loss is irrelevant for a throwaway cluster. A SIGKILL of PostgreSQL is still
    // survived: the WAL of every acknowledged commit is in the OS's page cache (synchronous_commit stays on, since
    // with it off an acknowledged commit can still sit in shared memory and die with the server).
    '-c',
    'fsync=off',
    '-c',
    'full_page_writes=off',
  ];
}

/** Runs one SQL statement as `postgres` against `database` through TCP; resolves with psql's unaligned output. */
export async function psql(
  psqlBinary: string,
  port: number,
  sql: string,
  database = 'postgres',
): Promise<string> {
  const output = await runCommand(
    {
      command: psqlBinary,
      args: [
        '-X',
        '-A',
        '-t',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        database,
        '-c',
        sql,
      ],
      env: { ...process.env, PGCONNECT_TIMEOUT: '2', PGSSLMODE: 'disable' },
    },
    { timeoutMs: 30_000 },
  );
  return output.trim();
}

/** `"name"` with embedded quotes doubled: safe to splice into SQL as an identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
