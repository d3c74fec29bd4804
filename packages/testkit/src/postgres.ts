import { chmod, chown, copyFile, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from './cleanup.js';
import { ServerStartError } from './errors.js';
import { runCommand } from './command.js';
import { waitFor } from './wait.js';
import { ManagedServer, ManagedServerHandle } from './managed-server.js';
import {
  findBaseBackup,
  findPostgresBinaries,
  initCluster,
  postgresArgs,
  type OsUser,
  type PostgresBinaries,
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
  /**
   * Starts a hot standby of this server on a free port: a base backup (`pg_basebackup -R`) streaming from it. With
   * `synchronous`, this server then waits for the standby to hold every commit before it answers it
   * (`synchronous_standby_names = '*'`), so promoting the standby after this one dies loses no commit. Resolves
   * once the standby streams (and is synchronous, when asked).
   */
  startStandby(opts?: { synchronous?: boolean }): Promise<PostgresStandbyHandle>;
}

export interface PostgresStandbyHandle extends PostgresHandle {
  /** Promotes the standby to a primary (`pg_promote`); resolves once it accepts writes. */
  promote(): Promise<void>;
}

export interface PostgresStartOptions extends ServerStartOptions {
  /** Serve SSL with this certificate and key (PEM); clients still choose (`sslmode`) unless `requireSsl`. */
  ssl?: { cert: string; key: string };
}

class PostgresServerHandle extends ManagedServerHandle implements PostgresStandbyHandle {
  constructor(
    server: ManagedServer,
    private readonly psqlBinary: string,
    private readonly dataDir: string,
    private readonly start: PostgresRun,
  ) {
    super(server);
  }

  async startStandby(opts: { synchronous?: boolean } = {}): Promise<PostgresStandbyHandle> {
    const { bins, user, options } = this.start;
    const baseDir = makeTempDir('throughline-pg-standby-');
    const dataDir = join(baseDir, 'data');
    try {
      if (user) await chown(baseDir, user.uid, user.gid);
      await runCommand({
        command: findBaseBackup(bins),
        // -R: standby.signal and primary_conninfo; -X stream: the WAL written meanwhile comes along; -c fast: a
        // checkpoint now rather than spread over minutes.
        args: [
          '-h',
          '127.0.0.1',
          '-p',
          String(this.port),
          '-U',
          'postgres',
          '-D',
          dataDir,
          '-R',
          '-X',
          'stream',
          '-c',
          'fast',
        ],
        cwd: baseDir,
        env: { ...process.env, PGSSLMODE: 'disable' },
        ...user,
      });
    } catch (e) {
      await removeTempDir(baseDir);
      throw new ServerStartError('postgres', 'pg_basebackup failed', (e as Error).message, { cause: e });
    }
    const standby = await runPostgres({ bins, user, options }, baseDir, dataDir);
    await waitFor(
      async () =>
        (await psql(bins.psql, standby.port, 'SELECT status FROM pg_stat_wal_receiver')) === 'streaming',
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        message: 'the standby did not start streaming from the primary',
      },
    );
    if (opts.synchronous) {
      await psql(this.psqlBinary, this.port, "ALTER SYSTEM SET synchronous_standby_names = '*'");
      await psql(this.psqlBinary, this.port, 'SELECT pg_reload_conf()');
      await waitFor(
        async () =>
          (await psql(this.psqlBinary, this.port, 'SELECT sync_state FROM pg_stat_replication')) === 'sync',
        {
          timeoutMs: 30_000,
          intervalMs: 100,
          message: 'the standby did not become synchronous',
        },
      );
    }
    return standby;
  }

  async promote(): Promise<void> {
    const done = await psql(this.psqlBinary, this.port, 'SELECT pg_promote(true, 60)');
    if (done !== 't') throw new Error(`pg_promote did not complete: ${done}`);
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
  return runPostgres({ bins, user, options: opts }, baseDir, dataDir);
}

/** What starting a server took: a standby of it is started the same way. */
interface PostgresRun {
  bins: PostgresBinaries;
  user: OsUser | undefined;
  options: PostgresStartOptions;
}

async function runPostgres(
  run: PostgresRun,
  baseDir: string,
  dataDir: string,
): Promise<PostgresServerHandle> {
  const { bins, user, options: opts } = run;
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
  return new PostgresServerHandle(server, bins.psql, dataDir, run);
}

function databaseUrl(port: number, database: string): string {
  return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}
