/**
 * `throughline db migrate | roles`: the schema and the services' least-privilege roles, run by an operator as the
 * role that owns the schema (the chart's migration Job does the same with the writer image and MIGRATE_ONLY).
 */
import { Command, Option } from 'commander';
import pc from 'picocolors';
import {
  grantServiceRoles,
  migrate,
  readRolePasswords,
  ROLE_PRIVILEGES,
  SCHEMA_VERSION,
  schemaVersion,
  SERVICE_ROLES,
  serviceRoleName,
  type ServiceRole,
} from '@throughline/stores';
import { databaseError, openPostgres, type DatabaseTarget } from '../database.js';
import { CliError } from '../errors.js';
import { url } from '../options.js';

interface DbFlags {
  databaseUrl?: string;
}

interface RolesFlags extends DbFlags {
  prefix: string;
  passwordDir?: string;
  only?: ServiceRole[];
  json?: boolean;
}

export function dbCommand(): Command {
  const db = new Command('db').description(
    'the PostgreSQL schema and the services’ least-privilege roles (run as the role that owns the schema)',
  );
  db.addCommand(
    withUrl(new Command('migrate').description('apply the pending schema migrations')).action(
      async (flags: DbFlags) => {
        await withTarget(flags, async (target) => {
          const outcome = await migrate(target.pool);
          process.stdout.write(
            outcome.applied.length === 0
              ? `schema of ${target.description} is current (version ${outcome.currentVersion})\n`
              : `applied migrations ${outcome.applied.join(', ')} to ${target.description} (now version ${outcome.currentVersion})\n`,
          );
        });
      },
    ),
  );
  db.addCommand(
    withUrl(
      new Command('roles').description(
        'create the services’ login roles that do not exist and grant each exactly what it needs (idempotent; run again after migrating)',
      ),
    )
      .addOption(
        new Option('--prefix <prefix>', 'roles are <prefix>_writer, _state, _config and _reader').default(
          'throughline',
        ),
      )
      .option(
        '--password-dir <dir>',
        'files named writer, state, config, reader holding the passwords to set (a role without a file keeps its own)',
      )
      .addOption(new Option('--only <roles>', `a subset of ${SERVICE_ROLES.join(',')}`).argParser(roleList))
      .option('--json', 'print what was done as JSON')
      .addHelpText('after', `\nPrivileges:\n${privilegesText('throughline')}\n`)
      .action(async (flags: RolesFlags) => {
        const passwords = passwordsOf(flags.passwordDir);
        await withTarget(flags, async (target) => {
          const version = await schemaVersion(target.pool);
          if (version < SCHEMA_VERSION)
            throw new CliError(
              `the schema of ${target.description} is at version ${version}, not ${SCHEMA_VERSION}: run \`throughline db migrate\` first, then grant`,
            );
          const roles = await grantServiceRoles(target.pool, {
            prefix: flags.prefix,
            passwords,
            ...(flags.only === undefined ? {} : { roles: flags.only }),
          });
          if (flags.json) {
            process.stdout.write(`${JSON.stringify({ target: target.description, roles }, null, 2)}\n`);
            return;
          }
          for (const role of roles) {
            const what = [role.created ? 'created' : 'exists', role.passwordSet ? 'password set' : undefined]
              .filter((w) => w !== undefined)
              .join(', ');
            process.stdout.write(
              `${pc.bold(role.name)} (${what}): ${ROLE_PRIVILEGES[role.service].join('; ')}\n`,
            );
          }
          process.stdout.write(
            `granted in ${target.description}; give each service its role with DATABASE_USER and DATABASE_PASSWORD_FILE, and DATABASE_MIGRATE=off\n`,
          );
        });
      }),
  );
  return db;
}

function withUrl(cmd: Command): Command {
  return cmd.addOption(
    new Option('--database-url <url>', 'PostgreSQL, as the role that owns the schema (default: DATABASE_URL)')
      .argParser(url('postgres', 'postgresql'))
      .env('DATABASE_URL')
      .makeOptionMandatory(),
  );
}

async function withTarget(flags: DbFlags, work: (target: DatabaseTarget) => Promise<void>): Promise<void> {
  const target = openPostgres(flags.databaseUrl!);
  try {
    await work(target).catch((err: unknown) => {
      throw err instanceof CliError ? err : databaseError(err, target);
    });
  } finally {
    await target.close();
  }
}

function roleList(value: string): ServiceRole[] {
  const roles = value.split(',').map((r) => r.trim());
  for (const role of roles) {
    if (!(SERVICE_ROLES as readonly string[]).includes(role))
      throw new CliError(`--only: ${JSON.stringify(role)} is not one of ${SERVICE_ROLES.join(', ')}`);
  }
  return roles as ServiceRole[];
}

function passwordsOf(dir: string | undefined): Partial<Record<ServiceRole, string>> {
  if (dir === undefined) return {};
  try {
    return readRolePasswords(dir);
  } catch (err) {
    throw new CliError(`--password-dir: ${(err as Error).message}`, { cause: err });
  }
}

function privilegesText(prefix: string): string {
  return SERVICE_ROLES.map(
    (role) => `  ${serviceRoleName(role, prefix)}: ${ROLE_PRIVILEGES[role].join('; ')}`,
  ).join('\n');
}
