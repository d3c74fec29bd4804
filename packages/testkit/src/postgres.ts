import { chown, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from './cleanup.js';
import { runCommand } from './command.js';
import { waitFor } from './wait.js';
import { ManagedServer, ManagedServerHandle } from './managed-server.js';
import {
  findPostgresBinaries,
  initCluster,
  postgresArgs,
  psql,
  quoteIdentifier,
  serverOsUser,
} from './postgres-cluster.js';
import type { ServerHandle, ServerStartOptions } from './server-handle.js';

export interface PostgresHandle extends ServerHandle {
  /** Creates a fresh database in this cluster and returns its URL. Default name: `test_<random hex>`. */
  createDatabase(name?: string): Promise<string>;
  /**
   * Adds a login role that must give its password over TCP (SCRAM), owning `database` (a name) when given, and
   * returns its URL for that database, without the password. Change the password with `ALTER ROLE … PASSWORD`.
   */
  createPasswordRole(role: string, password: string, database: string): Promise<string>;
}

export type PostgresStartOptions = ServerStartOptions;

class PostgresServerHandle extends ManagedServerHandle implements PostgresHandle {
  constructor(
    server: ManagedServer,
    private readonly psqlBinary: string,
    private readonly dataDir: string,
  ) {
    super(server);
  }

  get url(): string {
    return databaseUrl(this.port, 'postgres');
  }

  async createDatabase(name = `test_${randomBytes(6).toString('hex')}`): Promise<string> {
    await psql(this.psqlBinary, this.port, `CREATE DATABASE ${quoteIdentifier(name)}`);
    return databaseUrl(this.port, name);
  }

  async createPasswordRole(role: string, password: string, database: string): Promise<string> {
    const literal = `'${password.replace(/'/g, "''")}'`;
    await psql(this.psqlBinary, this.port, `CREATE ROLE ${quoteIdentifier(role)} LOGIN PASSWORD ${literal}`);
    await psql(
      this.psqlBinary,
      this.port,
      `ALTER DATABASE ${quoteIdentifier(database)} OWNER TO ${quoteIdentifier(role)}`,
    );
    // The first matching line of pg_hba.conf wins: this role's goes before initdb's `trust` lines.
    const hba = join(this.dataDir, 'pg_hba.conf');
    await writeFile(
      hba,
      `host all ${quoteIdentifier(role)} 127.0.0.1/32 scram-sha-256\n${await readFile(hba, 'utf8')}`,
    );
    await psql(this.psqlBinary, this.port, 'SELECT pg_reload_conf()');
    // The reload is asynchronous: wait until a connection of the role without its password is refused.
    await waitFor(() => this.refusesWithoutPassword(role, database), {
      timeoutMs: 10_000,
      intervalMs: 50,
      message: `PostgreSQL did not start asking ${role} for a password`,
    });
    return `postgres://${encodeURIComponent(role)}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  private async refusesWithoutPassword(role: string, database: string): Promise<boolean> {
    try {
      await runCommand({
        command: this.psqlBinary,
        args: [
          '-X',
          '-w',
          '-h',
          '127.0.0.1',
          '-p',
          String(this.port),
          '-U',
          role,
          '-d',
          database,
          '-c',
          'SELECT 1',
        ],
        env: { ...process.env, PGPASSWORD: '', PGSSLMODE: 'disable', PGCONNECT_TIMEOUT: '2' },
      });
      return false;
    } catch (err) {
      return /password/i.test((err as Error).message);
    }
  }
}

/**
 * Creates a PostgreSQL cluster in a fresh temp dir (initdb, trust auth, superuser `postgres`) and runs it on a
 * free port of 127.0.0.1, with its unix socket in the temp dir. When we are root it runs as the `postgres` OS
 * user, because PostgreSQL refuses to run as root. Ready once `SELECT 1` answers over TCP.
 */
export async function startPostgres(opts: PostgresStartOptions = {}): Promise<PostgresHandle> {
  const bins = findPostgresBinaries(opts.binDirs);
  const user = await serverOsUser();
  const baseDir = makeTempDir('throughline-pg-');
  const dataDir = join(baseDir, 'data');
  try {
    if (user) await chown(baseDir, user.uid, user.gid);
    await initCluster(bins, dataDir, baseDir, user);
  } catch (e) {
    await removeTempDir(baseDir);
    throw e;
  }
  const server = await ManagedServer.start({
    kind: 'postgres',
    dataDir: baseDir,
    // SIGINT is the "fast" shutdown; SIGTERM ("smart") would wait for every client to disconnect.
    stopSignal: 'SIGINT',
    logger: opts.logger,
    startTimeoutMs: opts.startTimeoutMs,
    stopTimeoutMs: opts.stopTimeoutMs,
    launch: (port) => ({
      command: bins.postgres,
      args: postgresArgs(dataDir, baseDir, port),
      cwd: baseDir,
      ...user,
    }),
    isReady: async (port) => (await psql(bins.psql, port, 'SELECT 1')) === '1',
  });
  return new PostgresServerHandle(server, bins.psql, dataDir);
}

function databaseUrl(port: number, database: string): string {
  return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}
