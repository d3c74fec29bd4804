import { chmod, chown, copyFile, readFile, writeFile } from 'node:fs/promises';
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
  /**
   * Makes an existing role give its password over TCP (SCRAM) instead of initdb's `trust`; resolves once a
   * connection of the role to `database` without a password is refused.
   */
  requirePassword(role: string, database: string): Promise<void>;
  /**
   * Refuses every connection of `role` that is not encrypted (a `hostnossl … reject` line first in pg_hba.conf);
   * needs `ssl` at start. Resolves once a plaintext connection of the role is refused.
   */
  requireSsl(role: string, database: string): Promise<void>;
}

export interface PostgresStartOptions extends ServerStartOptions {
  /** Serve SSL with this certificate and key (PEM); clients still choose (`sslmode`) unless `requireSsl`. */
  ssl?: { cert: string; key: string };
}

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
    await this.requirePassword(role, database);
    return `postgres://${encodeURIComponent(role)}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  async requirePassword(role: string, database: string): Promise<void> {
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
  }

  async requireSsl(role: string, database: string): Promise<void> {
    const hba = join(this.dataDir, 'pg_hba.conf');
    await writeFile(
      hba,
      `hostnossl all ${quoteIdentifier(role)} 127.0.0.1/32 reject\n${await readFile(hba, 'utf8')}`,
    );
    await psql(this.psqlBinary, this.port, 'SELECT pg_reload_conf()');
    await waitFor(() => this.refusesWithoutPassword(role, database, /no encryption|SSL off/i), {
      timeoutMs: 10_000,
      intervalMs: 50,
      message: `PostgreSQL did not start refusing plaintext connections of ${role}`,
    });
  }

  private async refusesWithoutPassword(role: string, database: string, why = /password/i): Promise<boolean> {
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
      return why.test((err as Error).message);
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
    if (opts.ssl !== undefined) {
      // PostgreSQL wants its key owned by the server's user and readable by it alone.
      for (const [from, to] of [
        [opts.ssl.cert, 'server.crt'],
        [opts.ssl.key, 'server.key'],
      ] as const) {
        await copyFile(from, join(dataDir, to));
        await chmod(join(dataDir, to), 0o600);
        if (user) await chown(join(dataDir, to), user.uid, user.gid);
      }
    }
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
      args: [
        ...postgresArgs(dataDir, baseDir, port),
        ...(opts.ssl === undefined
          ? []
          : ['-c', 'ssl=on', '-c', 'ssl_cert_file=server.crt', '-c', 'ssl_key_file=server.key']),
      ],
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
