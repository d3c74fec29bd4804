/**
 * Least-privilege PostgreSQL roles, one per service: what each may touch is written here once, next to the schema,
 * and {@link grantServiceRoles} makes the database say the same (idempotently: every run first revokes what the
 * role holds on the schema, then grants exactly the list, so a table added by a later migration is granted by the
 * next run and a privilege dropped from the list is taken back).
 *
 * The migrating role owns the tables and keeps every right; the services never change the schema (they only check
 * that it is current, see `ensureSchema`), never delete or truncate, and the writer cannot touch the configuration
 * nor the config service the ledger. That they cannot create anything in the schema holds on PostgreSQL 15 and later
 * (earlier versions let every role create in `public`: `REVOKE CREATE ON SCHEMA public FROM PUBLIC` there).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type pg from 'pg';
import { StoreError, StoreErrorCode, toStoreError } from './errors.js';
import { withClient } from './pg-client.js';

export const SERVICE_ROLES = ['writer', 'state', 'config', 'reader'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

/**
 * Per role, `<privileges> ON <objects>` of the schema. Besides these, every role may connect to the database, use
 * the schema and read `tl_schema_migrations` (to check the schema is current).
 */
export const ROLE_PRIVILEGES: Readonly<Record<ServiceRole, readonly string[]>> = {
  // One statement per commit: ledger rows (RETURNING reads them back), balances upserted, the partition fences
  // checked and advanced (tl_partition_epochs).
  writer: ['SELECT, INSERT ON TABLE ledger', 'SELECT, INSERT, UPDATE ON TABLE balances, tl_partition_epochs'],
  // Rebuilds lost per-key state from what was committed, keys Redis by the deployment id, and compares its store's
  // high-water position with the one committed (tl_partition_epochs).
  state: ['SELECT ON TABLE balances, ledger, tl_partition_epochs, tl_deployment'],
  // The configuration and its history; versions come from the sequence. LISTEN needs no grant.
  config: [
    'SELECT, INSERT, UPDATE ON TABLE tenant_configs',
    'SELECT, INSERT ON TABLE tenant_config_history',
    'USAGE ON SEQUENCE tenant_config_version_seq',
  ],
  // The CLI's verify and trace, the helm test pod: reads everything, writes nothing.
  reader: [
    'SELECT ON TABLE ledger, balances, tenant_configs, tenant_config_history, tl_partition_epochs, tl_deployment',
  ],
};

/** Transaction-level advisory lock key ('tl_role' in ASCII) serialising grant runs. */
const ROLES_LOCK_KEY = 0x746c5f726f6c65n;

const COMMON_TABLE_PRIVILEGES = 'SELECT ON TABLE tl_schema_migrations';

export interface GrantOptions {
  /** Role names are `<prefix>_<service>`. Default `throughline`. */
  prefix?: string;
  /** Passwords to set, by service; a role without one keeps its password (or has none, if created now). */
  passwords?: Partial<Record<ServiceRole, string>>;
  /** Which roles. Default: all of {@link SERVICE_ROLES}. */
  roles?: readonly ServiceRole[];
}

export interface GrantedRole {
  service: ServiceRole;
  /** The login role's name. */
  name: string;
  created: boolean;
  passwordSet: boolean;
}

/** What a role prefix may be: a lower-case SQL identifier short enough for `<prefix>_config` (the chart's schema says the same). */
export const ROLE_PREFIX_PATTERN = /^[a-z_][a-z0-9_]{0,40}$/;

/** The name of `service`'s role under `prefix`. */
export function serviceRoleName(service: ServiceRole, prefix = 'throughline'): string {
  if (!ROLE_PREFIX_PATTERN.test(prefix)) {
    throw new StoreError(
      StoreErrorCode.invalidInput,
      `role prefix ${JSON.stringify(prefix)} must be lower-case letters, digits and _ (at most 41), starting with a letter or _`,
    );
  }
  return `${prefix}_${service}`;
}

/**
 * Creates the services' login roles that do not exist yet (needs CREATEROLE), sets the passwords given (sent as
 * SCRAM verifiers, so no password reaches the server's statement log), and grants each exactly its privileges on
 * the current schema of the database `pool` reaches. Run by the role that owns the tables (the one that migrates),
 * after migrating. One transaction: on a failure nothing changed.
 */
export async function grantServiceRoles(pool: pg.Pool, opts: GrantOptions = {}): Promise<GrantedRole[]> {
  const prefix = opts.prefix ?? 'throughline';
  const services = opts.roles ?? SERVICE_ROLES;
  const how = {
    code: StoreErrorCode.queryFailed,
    connectFailed: 'cannot connect to grant the service roles',
    failed: 'granting the service roles failed',
  };
  return withClient(pool, how, async (client) => {
    const done: GrantedRole[] = [];
    try {
      await client.query('BEGIN');
      // One grant at a time (a Job retried beside an operator's `db roles`): CREATE ROLE checked-then-run must not race.
      await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [ROLES_LOCK_KEY.toString()]);
      const where = await client.query<{ db: string; schema: string }>(
        'SELECT current_database() AS db, current_schema() AS schema',
      );
      const { db, schema } = where.rows[0]!;
      for (const service of services) {
        const name = serviceRoleName(service, prefix);
        const step = (what: string) => (err: unknown) => {
          throw toStoreError(StoreErrorCode.queryFailed, `${what} role ${name}`, err);
        };
        const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
        const created = exists.rowCount === 0;
        if (created) await client.query(`CREATE ROLE ${ident(name)} LOGIN`).catch(step('cannot create'));
        const password = opts.passwords?.[service];
        if (password !== undefined) {
          await client
            .query(`ALTER ROLE ${ident(name)} PASSWORD ${literal(scramVerifier(password))}`)
            .catch(step('cannot set the password of'));
        }
        const grants = [
          `REVOKE ALL ON ALL TABLES IN SCHEMA ${ident(schema)} FROM ${ident(name)}`,
          `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${ident(schema)} FROM ${ident(name)}`,
          `GRANT CONNECT ON DATABASE ${ident(db)} TO ${ident(name)}`,
          `GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(name)}`,
          `GRANT ${COMMON_TABLE_PRIVILEGES} TO ${ident(name)}`,
          ...ROLE_PRIVILEGES[service].map((p) => `GRANT ${p} TO ${ident(name)}`),
        ];
        for (const sql of grants) await client.query(sql).catch(step('cannot grant the privileges of'));
        done.push({ service, name, created, passwordSet: password !== undefined });
      }
      await client.query('COMMIT');
      return done;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  });
}

/**
 * A SCRAM-SHA-256 verifier of `password`, in the form PostgreSQL stores (`SCRAM-SHA-256$<iterations>:<salt>$<stored
 * key>:<server key>`, RFC 5802/7677) and accepts in `ALTER ROLE … PASSWORD`, as psql's `\password` sends it. The
 * password is normalised (NFKC) as SASLprep does for the common cases; PostgreSQL's own default is 4096 iterations.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * The passwords in `dir` (a mounted Secret): files named after the roles (writer, state, config, reader), one final
 * newline ignored; a role without a file gets none. Throws naming the file it cannot read, never its content.
 */
export function readRolePasswords(dir: string): Partial<Record<ServiceRole, string>> {
  if (!existsSync(dir))
    throw new StoreError(StoreErrorCode.invalidInput, `role password directory ${dir} does not exist`);
  const passwords: Partial<Record<ServiceRole, string>> = {};
  for (const role of SERVICE_ROLES) {
    const file = join(dir, role);
    if (!existsSync(file)) continue;
    let password: string;
    try {
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new StoreError(
        StoreErrorCode.invalidInput,
        `cannot read the ${role} role's password ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
    // PostgreSQL would take an empty one as "no password" with only a notice: the role could no longer log in.
    if (password === '')
      throw new StoreError(StoreErrorCode.invalidInput, `the ${role} role's password ${file} is empty`);
    passwords[role] = password;
  }
  return passwords;
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
