/**
 * The chart's `helm test`: sends a few events through IngestService and waits until the writer committed a ledger
 * row for each (APPLIED or REJECTED: either way the pipeline carried it end to end).
 *
 * Runs from the service image (`node deploy/smoke-test.mjs`, working directory /app) with the services' own
 * dependencies: @grpc/grpc-js and @throughline/contracts as ingest resolves them, pg as the writer does.
 * Env: INGEST_ADDRESS (host:port), INGEST_TLS_CA_FILE / INGEST_TLS_CERT_FILE / INGEST_TLS_KEY_FILE (TLS),
 * INGEST_TOKEN_FILE (the client token, from `throughline clients create`), DATABASE_URL (and DATABASE_PASSWORD_FILE;
 * DATABASE_USER, the reader role, with least-privilege roles), SMOKE_EVENTS (default 5), SMOKE_TENANT (default
 * tenant-1), SMOKE_TIMEOUT_MS (default 60000).
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const env = process.env;
const importFrom = async (app, specifier) => {
  const resolved = createRequire(path.resolve(`apps/${app}/package.json`)).resolve(specifier);
  return import(pathToFileURL(resolved).href);
};
const grpc = await importFrom('ingest', '@grpc/grpc-js');
const { IngestServiceClient, Direction, publishOnce } = await importFrom('ingest', '@throughline/contracts');
const { createPostgresPool, postgresSettings } = await importFrom('writer', '@throughline/service');

const address = env.INGEST_ADDRESS ?? fail('INGEST_ADDRESS is required');
const databaseUrl = env.DATABASE_URL ?? fail('DATABASE_URL is required');
const count = Number(env.SMOKE_EVENTS ?? 5);
const timeoutMs = Number(env.SMOKE_TIMEOUT_MS ?? 60000);

function fail(message) {
  process.stderr.write(`smoke test failed: ${message}\n`);
  process.exit(1);
}

const run = randomUUID();
const events = Array.from({ length: count }, (_, i) => ({
  eventId: `smoke-${run}-${i}`,
  accountId: `smoke-account-${i % 2}`,
  tenantId: env.SMOKE_TENANT ?? 'tenant-1',
  direction: Direction.DIRECTION_CREDIT,
  amountMinor: 100n,
  currency: 'EUR',
  occurredAtMs: BigInt(Date.now()),
  attributes: {},
}));

// TLS when ingest serves it (INGEST_TLS_CA_FILE, and INGEST_TLS_CERT_FILE / INGEST_TLS_KEY_FILE for mutual TLS).
const { readFileSync } = await import('node:fs');
const file = (name) => (env[name] ? readFileSync(env[name]) : null);
const credentials = env.INGEST_TLS_CA_FILE
  ? grpc.credentials.createSsl(
      file('INGEST_TLS_CA_FILE'),
      file('INGEST_TLS_KEY_FILE'),
      file('INGEST_TLS_CERT_FILE'),
    )
  : grpc.credentials.createInsecure();
// The client token, never printed: a file that does not hold one line is refused without showing it.
let token;
if (env.INGEST_TOKEN_FILE) {
  token = readFileSync(env.INGEST_TOKEN_FILE, 'utf8').trim();
  if (!/^[\x21-\x7e]+$/.test(token))
    fail(`INGEST_TOKEN_FILE ${env.INGEST_TOKEN_FILE} does not hold one token`);
}
const client = new IngestServiceClient(address, credentials);
const accepted = await publishOnce(client, events, { token, attemptTimeoutMs: 15000 }).catch((err) =>
  fail(`PublishBatch to ${address}: ${err.message}`),
);
client.close();
if (accepted !== count) fail(`ingest accepted ${accepted} of ${count} events`);
process.stdout.write(`ingest accepted ${accepted} events (run ${run})\n`);

// DATABASE_URL, and DATABASE_PASSWORD_FILE when the password is mounted, read as the services read them.
const pool = createPostgresPool(postgresSettings.parse({ ...env, DATABASE_URL: databaseUrl }), {
  max: 1,
  logger: { warn: (msg, fields) => console.error(msg, fields ?? '') },
});
const ids = events.map((e) => e.eventId);
const started = Date.now();
for (;;) {
  const { rows } = await pool.query(
    'SELECT outcome, count(*)::int AS n FROM ledger WHERE event_id = ANY($1) GROUP BY outcome',
    [ids],
  );
  const committed = rows.reduce((sum, r) => sum + r.n, 0);
  if (committed === count) {
    process.stdout.write(`committed: ${rows.map((r) => `${r.n} ${r.outcome}`).join(', ')}\n`);
    break;
  }
  if (Date.now() - started > timeoutMs)
    fail(`${committed} of ${count} events committed after ${timeoutMs} ms`);
  await new Promise((resolve) => setTimeout(resolve, 500));
}
await pool.end();
