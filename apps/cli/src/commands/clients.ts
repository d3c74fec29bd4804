/**
 * `throughline clients create | list | revoke`: who may publish to ingest, and for which tenants. The clients live
 * in NATS (the client bucket, `KV_tl_clients`), which every ingest instance watches: a client created or revoked
 * counts within a moment, without a restart. Only a token's SHA-256 is stored; the token is printed once.
 */
import { Command, Option } from 'commander';
import type { Bus, LeaseBucket } from '@throughline/bus';
import {
  ALL_TENANTS,
  CLIENT_NAME,
  clientKey,
  encodeClientRecord,
  listClients,
  newClientToken,
  type IngestClientRecord,
} from '@throughline/pipeline';
import { CliError, usageError } from '../errors.js';
import { table } from '../format.js';
import { connectNats } from '../nats.js';
import { natsUrlOption } from '../options.js';

interface CommonFlags {
  natsUrl: string;
  json?: boolean;
}

interface CreateFlags extends CommonFlags {
  tenants?: string[];
  allTenants?: boolean;
  certificate?: boolean;
  token: boolean;
  replace?: boolean;
}

async function withBucket<T>(
  flags: CommonFlags,
  what: string,
  work: (bucket: LeaseBucket) => Promise<T>,
): Promise<T> {
  const bus: Bus = await connectNats(flags.natsUrl, `clients-${what}`);
  try {
    let bucket: LeaseBucket;
    try {
      bucket = await bus.clients();
    } catch (err) {
      throw new CliError(
        'no client bucket in this NATS: start ingest (or any throughline service) against it first',
        { cause: err },
      );
    }
    return await work(bucket);
  } finally {
    await bus.close();
  }
}

function clientName(value: string): string {
  if (!CLIENT_NAME.test(value))
    throw usageError(`a client name is 1 to 64 letters, digits, "_" or "-", got ${JSON.stringify(value)}`);
  return value;
}

function tenantList(value: string, previous: string[] = []): string[] {
  const tenants = value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '');
  if (tenants.length === 0) throw usageError('--tenants wants one or more tenant ids, comma-separated');
  if (tenants.includes(ALL_TENANTS)) throw usageError('every tenant is --all-tenants, not "*"');
  return [...previous, ...tenants];
}

export function clientsCommand(): Command {
  const clients = new Command('clients').description(
    'who may publish to ingest, and for which tenants: create, list and revoke client credentials (kept in NATS)',
  );
  clients
    .command('create')
    .description(
      'create a client: its token on stdout (shown once, stored nowhere), what it may do on stderr',
    )
    .argument('<name>', 'the client (letters, digits, _ -); also the common name of its certificate')
    .addOption(
      new Option('--tenants <ids>', 'tenants it may publish for, comma-separated (repeatable)').argParser(
        tenantList,
      ),
    )
    .addOption(new Option('--all-tenants', 'it may publish for every tenant').conflicts('tenants'))
    .option('--certificate', 'a client certificate whose common name is <name> authenticates it (mutual TLS)')
    .option('--no-token', 'no bearer token: the certificate only (with --certificate)')
    .option('--replace', 'replace an existing client of that name: its old token stops working')
    .addOption(natsUrlOption())
    .option('--json', 'print the client and its token as JSON')
    .action(async (rawName: string, flags: CreateFlags) => {
      const name = clientName(rawName);
      const tenants = flags.allTenants === true ? [ALL_TENANTS] : flags.tenants;
      if (tenants === undefined)
        throw usageError('say which tenants it may publish for: --tenants or --all-tenants');
      if (!flags.token && flags.certificate !== true)
        throw usageError('--no-token leaves it no credential: add --certificate');
      const minted = flags.token ? newClientToken() : undefined;
      const record: IngestClientRecord = {
        ...(minted === undefined ? {} : { tokenSha256: minted.sha256 }),
        certificate: flags.certificate === true,
        tenants,
        createdAtMs: Date.now(),
      };
      await withBucket(flags, 'create', async (bucket) => {
        const value = encodeClientRecord(record);
        if (flags.replace === true) await bucket.put(clientKey(name), value);
        else if ((await bucket.create(clientKey(name), value)) === undefined)
          throw new CliError(
            `client ${name} exists already: revoke it first, or give --replace to give it a new token`,
          );
      });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ name, ...record, token: minted?.token })}\n`);
        return;
      }
      if (minted !== undefined) process.stdout.write(`${minted.token}\n`);
      process.stderr.write(
        `client ${name} may publish for ${tenants[0] === ALL_TENANTS ? 'every tenant' : tenants.join(', ')}` +
          `${record.certificate ? `; a client certificate with common name ${name} authenticates it` : ''}.\n` +
          (minted === undefined
            ? ''
            : 'The token above is stored nowhere (only its SHA-256): keep it in a file for `throughline load --token-file`, or in a Secret.\n'),
      );
    });
  clients
    .command('list')
    .description('list the clients: name, credentials, tenants, when created (never a token)')
    .addOption(natsUrlOption())
    .option('--json', 'print JSON')
    .action(async (flags: CommonFlags) => {
      const all = await withBucket(flags, 'list', listClients);
      if (flags.json) {
        const rows = all.map(({ name, tenants, certificate, tokenSha256, createdAtMs }) => ({
          name,
          tenants,
          certificate,
          token: tokenSha256 !== undefined,
          createdAt: new Date(createdAtMs).toISOString(),
        }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (all.length === 0) {
        process.stdout.write(
          'no clients: ingest refuses every call (create one with `throughline clients create`)\n',
        );
        return;
      }
      const rows = all.map((c) => [
        c.name,
        [...(c.tokenSha256 !== undefined ? ['token'] : []), ...(c.certificate ? ['certificate'] : [])].join(
          '+',
        ),
        c.tenants[0] === ALL_TENANTS ? 'every tenant' : c.tenants.join(','),
        new Date(c.createdAtMs).toISOString(),
      ]);
      process.stdout.write(
        `${table([['client', 'credential', 'tenants', 'created'], ...rows], '', 'left')}\n`,
      );
    });
  clients
    .command('revoke')
    .description('revoke a client: ingest refuses its calls within a moment, and ends its open streams')
    .argument('<name>', 'the client')
    .addOption(natsUrlOption())
    .action(async (rawName: string, flags: CommonFlags) => {
      const name = clientName(rawName);
      await withBucket(flags, 'revoke', async (bucket) => {
        if ((await bucket.get(clientKey(name))) === undefined)
          throw new CliError(`no client ${name}: \`throughline clients list\` shows them`);
        await bucket.delete(clientKey(name));
      });
      process.stderr.write(`client ${name} revoked\n`);
    });
  return clients;
}
