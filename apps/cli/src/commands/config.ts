/** `throughline config get | list | set | admin-token`: tenant configuration through the ConfigService. */
import * as grpc from '@grpc/grpc-js';
import { Command, Option } from 'commander';
import { newBearerToken } from '@throughline/bus';
import { ConfigServiceClient, type ListConfigsResponse, type TenantConfig } from '@throughline/contracts';
import { describeConfig, fxPair, listConfigs } from '../config/tenant-config-text.js';
import { addTlsOptions, credentialsOf, type TlsFlags } from '../tls-options.js';
import { readTokenFile, warnTokenWithoutTls } from '../token-file.js';
import { CliError, ExitCode, usageError } from '../errors.js';
import { call, ensureReachable, isServiceError, toJson } from '../grpc.js';
import { bool, currency, hostPort, int64, nonNegativeInt } from '../options.js';

const DEFAULT_CONFIG_ADDRESS = '127.0.0.1:50052';

interface ConnectionFlags extends TlsFlags {
  configAddress: string;
  json?: boolean;
}

interface SetFlags extends ConnectionFlags {
  adminTokenFile?: string;
  enabled?: boolean;
  feeBps?: number;
  baseCurrency?: string;
  dailyDebitLimit?: bigint;
  overdraftLimit?: bigint;
  fx?: [string, bigint][];
  removeFx?: string[];
}

function addressOption(): Option {
  return new Option('--config-address <host:port>', 'the ConfigService')
    .argParser(hostPort)
    .env('CONFIG_ADDRESS')
    .default(DEFAULT_CONFIG_ADDRESS);
}

async function withClient<T>(
  flags: { configAddress: string } & TlsFlags,
  work: (client: ConfigServiceClient) => Promise<T>,
): Promise<T> {
  const address = flags.configAddress;
  const client = new ConfigServiceClient(address, credentialsOf(flags));
  try {
    await ensureReachable(client, 'ConfigService', address);
    return await work(client);
  } catch (err) {
    if (isServiceError(err)) {
      if (err.code === grpc.status.NOT_FOUND)
        throw new CliError(`${err.details}; list the tenants with \`throughline config list\``, {
          cause: err,
        });
      if (err.code === grpc.status.INVALID_ARGUMENT)
        throw new CliError(`the ConfigService refused the change: ${err.details}`, {
          exitCode: ExitCode.usage,
          cause: err,
        });
      if (err.code === grpc.status.UNAUTHENTICATED || err.code === grpc.status.PERMISSION_DENIED)
        throw new CliError(
          `the ConfigService refused the change: ${err.details} (an admin token goes in --admin-token-file or THROUGHLINE_ADMIN_TOKEN_FILE; \`throughline config admin-token <name>\` makes one)`,
          { cause: err },
        );
      throw new CliError(`ConfigService at ${address} failed: ${err.details || err.message}`, { cause: err });
    }
    throw err;
  } finally {
    client.close();
  }
}

function print(flags: ConnectionFlags, value: unknown, text: string): void {
  process.stdout.write(`${flags.json ? toJson(value) : text}\n`);
}

/** The new configuration: the current one (or defaults for a new tenant) with the given fields changed. */
function merge(tenantId: string, current: TenantConfig | undefined, flags: SetFlags): TenantConfig {
  const base = current?.baseCurrency ?? flags.baseCurrency;
  if (base === undefined)
    throw usageError(`tenant ${tenantId} does not exist yet: give its --base-currency to create it`);
  const fxRatesE9 = { ...(current?.fxRatesE9 ?? {}) };
  for (const [ccy, rate] of flags.fx ?? []) fxRatesE9[ccy] = rate;
  for (const ccy of flags.removeFx ?? []) delete fxRatesE9[ccy];
  return {
    tenantId,
    version: 0n,
    updatedAtMs: 0n,
    enabled: flags.enabled ?? current?.enabled ?? true,
    baseCurrency: flags.baseCurrency ?? base,
    feeBps: flags.feeBps ?? current?.feeBps ?? 0,
    fxRatesE9,
    dailyDebitLimitMinor: flags.dailyDebitLimit ?? current?.dailyDebitLimitMinor ?? 0n,
    overdraftLimitMinor: flags.overdraftLimit ?? current?.overdraftLimitMinor ?? 0n,
  };
}

export function configCommand(): Command {
  const config = new Command('config').description(
    'read and change tenant configuration through the ConfigService',
  );
  config
    .command('list')
    .description("every tenant's current configuration")
    .addOption(addressOption())
    .option('--json', 'print JSON')
    .action(async (flags: ConnectionFlags) => {
      const list = await withClient(flags, (c) =>
        call<ListConfigsResponse>((o, done) => c.list({}, new grpc.Metadata(), o, done)),
      );
      print(flags, list, listConfigs(list.configs));
    });
  config
    .command('get')
    .description("one tenant's current configuration")
    .argument('<tenant>', 'tenant id, e.g. tenant-1')
    .addOption(addressOption())
    .option('--json', 'print JSON')
    .action(async (tenantId: string, flags: ConnectionFlags) => {
      const found = await withClient(flags, (c) =>
        call<TenantConfig>((o, done) => c.get({ tenantId }, new grpc.Metadata(), o, done)),
      );
      print(flags, found, describeConfig(found));
    });
  config
    .command('set')
    .description(
      "change some fields of a tenant's configuration (read, merge, put); running enrich actors pick it up at once",
    )
    .argument('<tenant>', 'tenant id, e.g. tenant-1')
    .addOption(
      new Option('--enabled <bool>', "accept the tenant's events (true) or reject them (false)").argParser(
        bool,
      ),
    )
    .addOption(
      new Option('--fee-bps <n>', 'fee in basis points of the converted amount').argParser(nonNegativeInt),
    )
    .addOption(
      new Option(
        '--base-currency <code>',
        'currency amounts are converted to (needed for a new tenant)',
      ).argParser(currency),
    )
    .addOption(
      new Option(
        '--daily-debit-limit <minor>',
        'daily debits per account, base-currency minor units (0: none)',
      ).argParser(int64),
    )
    .addOption(
      new Option('--overdraft-limit <minor>', 'how far below zero a balance may go, minor units').argParser(
        int64,
      ),
    )
    .addOption(
      new Option('--fx <CCY=rate>', 'FX rate to the base currency, e.g. USD=0.92 (repeatable)').argParser(
        fxPair,
      ),
    )
    .addOption(
      new Option('--remove-fx <CCY>', 'drop an FX rate (repeatable)').argParser(
        (v: string, prev: string[] = []) => [...prev, currency(v)],
      ),
    )
    .addOption(
      new Option('--admin-token-file <path>', 'a file holding an admin token of the ConfigService').env(
        'THROUGHLINE_ADMIN_TOKEN_FILE',
      ),
    )
    .addOption(addressOption())
    .option('--json', 'print JSON')
    .action(async (tenantId: string, flags: SetFlags) => {
      const fields = [
        'enabled',
        'feeBps',
        'baseCurrency',
        'dailyDebitLimit',
        'overdraftLimit',
        'fx',
        'removeFx',
      ] as const;
      if (fields.every((f) => flags[f] === undefined)) {
        throw usageError(
          'nothing to set: give at least one of --enabled, --fee-bps, --base-currency, --daily-debit-limit, --overdraft-limit, --fx, --remove-fx',
        );
      }
      // Read before connecting: a missing token file is the user's to fix, whatever the service says.
      const metadata = new grpc.Metadata();
      if (flags.adminTokenFile !== undefined) {
        const token = readTokenFile(
          flags.adminTokenFile,
          'the admin token file',
          'throughline config admin-token',
        );
        metadata.set('authorization', `Bearer ${token}`);
        warnTokenWithoutTls(flags, 'admin token');
      }
      const stored = await withClient(flags, async (c) => {
        const current = await call<TenantConfig>((o, done) =>
          c.get({ tenantId }, new grpc.Metadata(), o, done),
        ).catch((err: unknown) => {
          if (isServiceError(err) && err.code === grpc.status.NOT_FOUND) return undefined;
          throw err;
        });
        return call<TenantConfig>((o, done) =>
          c.put({ config: merge(tenantId, current, flags) }, metadata, o, done),
        );
      });
      print(flags, stored, `stored version ${stored.version}\n${describeConfig(stored)}`);
    });
  for (const sub of config.commands) addTlsOptions(sub);
  config
    .command('admin-token')
    .description(
      'make an admin token for configuration changes: the token on stdout (shown once), the line for CONFIG_ADMIN_TOKENS_FILE on stderr',
    )
    .argument('<name>', 'who holds it, recorded with each change it makes (letters, digits, . _ -)')
    .option('--json', 'print both as JSON')
    .action((name: string, flags: { json?: boolean }) => {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(name))
        throw usageError(
          `admin-token wants a name of letters, digits, ".", "_" or "-" (at most 64), got ${JSON.stringify(name)}`,
        );
      const { token, sha256 } = newBearerToken('tla');
      const line = `${name} ${sha256}`;
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ name, token, line })}\n`);
        return;
      }
      process.stdout.write(`${token}\n`);
      // A valid tokens file by itself: the explanation is a comment.
      process.stderr.write(
        `# ${name}: this line goes in the ConfigService's CONFIG_ADMIN_TOKENS_FILE (the token's SHA-256 only); ` +
          'the token, on stdout, is stored nowhere: keep it in a file for `throughline config set --admin-token-file`\n' +
          `${line}\n`,
      );
    });
  return config;
}
