/**
 * ConfigService.Put needs an admin credential, and each change records who made it: over real gRPC (plaintext and
 * mutual TLS) and a real PostgreSQL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigServiceClient, type TenantConfig } from '@throughline/contracts';
import { tokenSha256 } from '@throughline/bus';
import { createTestPki } from '@throughline/testkit';
import {
  adminAuthProblem,
  createPutAuthorizer,
  parseTokenFile,
  type AdminAuthSettings,
} from '../src/admin-auth.js';
import { serveConfig, startConfigDatabase, tenantConfig, type ConfigDatabase } from './support.js';

const pki = createTestPki();
const ca = pki.ca('ca');
const serverCert = pki.cert('config', ca, 'server');
const admin = pki.cert('admin', ca, 'client');
const other = pki.cert('other', ca, 'client');
const tokensFile = join(pki.dir, 'admin-tokens');

let db: ConfigDatabase;
const closers: (() => Promise<void>)[] = [];

async function serve(settings: AdminAuthSettings, credentials?: grpc.ServerCredentials) {
  const served = await serveConfig(db.repo, settings, credentials ? { credentials } : {});
  closers.push(served.close);
  return served.port;
}

function put(client: ConfigServiceClient, c: TenantConfig, token?: string) {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return new Promise<{ code: grpc.status; details?: string; stored?: TenantConfig }>((resolve) =>
    client.put({ config: c }, metadata, (err, stored) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, stored }),
    ),
  );
}

const changedBy = async (tenantId: string) =>
  (
    await db.pool.query<{ changed_by: string }>(
      `SELECT changed_by FROM tenant_config_history WHERE tenant_id = $1 ORDER BY version`,
      [tenantId],
    )
  ).rows.map((r) => r.changed_by);

beforeAll(async () => {
  db = await startConfigDatabase('admin');
});

afterAll(async () => {
  for (const close of closers) await close();
  await db?.stop();
});

describe('ConfigService.Put', () => {
  it('takes an admin token listed by hash, records its name, and follows the token file without a restart', async () => {
    writeFileSync(tokensFile, `# admins\nops ${tokenSha256('s3cret-ops')}\n`);
    const port = await serve({ CONFIG_ADMIN_TOKENS_FILE: tokensFile, CONFIG_PUT_OPEN: false });
    const client = new ConfigServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      expect(await put(client, tenantConfig('t-a', 1))).toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
        details: expect.stringMatching(/Put needs an admin credential/),
      });
      expect(await put(client, tenantConfig('t-a', 2), 'guess')).toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
        details: 'the bearer token is not an admin token of this service',
      });
      const ok = await put(client, tenantConfig('t-a', 3), 's3cret-ops');
      expect(ok.code).toBe(grpc.status.OK);
      expect(ok.stored?.feeBps).toBe(3);
      // Reading stays open.
      const got = await new Promise<TenantConfig>((resolve, reject) =>
        client.get({ tenantId: 't-a' }, (err, c) => (err ? reject(err) : resolve(c))),
      );
      expect(got.feeBps).toBe(3);
      // Rotated: the old token is refused at once, the new one accepted.
      writeFileSync(tokensFile, `ci ${tokenSha256('s3cret-ci')}\n`);
      expect((await put(client, tenantConfig('t-a', 4), 's3cret-ops')).code).toBe(
        grpc.status.UNAUTHENTICATED,
      );
      expect((await put(client, tenantConfig('t-a', 5), 's3cret-ci')).code).toBe(grpc.status.OK);
      expect(await changedBy('t-a')).toEqual(['token:ops', 'token:ci']);
      // The file holds hashes only.
      expect(readFileSync(tokensFile, 'utf8')).not.toContain('s3cret');
    } finally {
      client.close();
    }
  });

  it('is refused to everyone when no admin credential is configured, and open only when said so', async () => {
    const closed = await serve({ CONFIG_PUT_OPEN: false });
    const open = await serve({ CONFIG_PUT_OPEN: true });
    const closedClient = new ConfigServiceClient(`127.0.0.1:${closed}`, grpc.credentials.createInsecure());
    const openClient = new ConfigServiceClient(`127.0.0.1:${open}`, grpc.credentials.createInsecure());
    try {
      expect(await put(closedClient, tenantConfig('t-b', 1), 'anything')).toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
        details: 'this config service takes no admin tokens',
      });
      expect(await put(closedClient, tenantConfig('t-b', 1))).toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
        details: expect.stringMatching(/configuration changes are disabled/),
      });
      expect((await put(openClient, tenantConfig('t-b', 2))).code).toBe(grpc.status.OK);
      expect(await changedBy('t-b')).toEqual([expect.stringMatching(/^open:127\.0\.0\.1:\d+$/)]);
    } finally {
      closedClient.close();
      openClient.close();
    }
  });

  it('over mutual TLS takes the client certificates CONFIG_ADMIN_CLIENTS names, and no other', async () => {
    const port = await serve(
      { CONFIG_ADMIN_CLIENTS: 'admin', CONFIG_PUT_OPEN: false, GRPC_TLS_CLIENT_CA_FILE: ca.cert },
      grpc.ServerCredentials.createSsl(
        readFileSync(ca.cert),
        [{ cert_chain: readFileSync(serverCert.cert), private_key: readFileSync(serverCert.key) }],
        true,
      ),
    );
    const clientAs = (who: { cert: string; key: string }) =>
      new ConfigServiceClient(
        `localhost:${port}`,
        grpc.credentials.createSsl(readFileSync(ca.cert), readFileSync(who.key), readFileSync(who.cert)),
      );
    const asAdmin = clientAs(admin);
    const asOther = clientAs(other);
    try {
      expect((await put(asAdmin, tenantConfig('t-c', 1))).code).toBe(grpc.status.OK);
      expect(await put(asOther, tenantConfig('t-c', 2))).toMatchObject({
        code: grpc.status.PERMISSION_DENIED,
        details: 'client certificate "other" may not change the configuration (CONFIG_ADMIN_CLIENTS)',
      });
      expect(await changedBy('t-c')).toEqual(['cert:admin']);
    } finally {
      asAdmin.close();
      asOther.close();
    }
  });
});

describe('admin settings', () => {
  it('refuses contradictions and certificate names without mutual TLS', () => {
    expect(adminAuthProblem({ CONFIG_PUT_OPEN: true, CONFIG_ADMIN_TOKENS_FILE: '/x' })).toMatch(
      /contradicts/,
    );
    expect(adminAuthProblem({ CONFIG_PUT_OPEN: false, CONFIG_ADMIN_CLIENTS: 'a' })).toMatch(
      /GRPC_TLS_CLIENT_CA_FILE/,
    );
    expect(adminAuthProblem({ CONFIG_PUT_OPEN: false, CONFIG_ADMIN_CLIENTS: ' , ' })).toBeUndefined();
    expect(adminAuthProblem({ CONFIG_PUT_OPEN: true })).toBeUndefined();
  });

  it('tells a caller only that tokens cannot be checked when the file is unreadable; the log gets the path', () => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer t');
    const missing = join(pki.dir, 'no-such-tokens');
    const auth = createPutAuthorizer({ CONFIG_ADMIN_TOKENS_FILE: missing, CONFIG_PUT_OPEN: false })({
      metadata,
      clientName: undefined,
      peer: 'p',
    });
    expect(auth).toEqual({
      ok: false,
      status: { code: grpc.status.UNAVAILABLE, details: 'cannot check admin tokens now; retry later' },
      log: `cannot read CONFIG_ADMIN_TOKENS_FILE ${missing} (ENOENT)`,
    });
  });

  it('reads a token file of names and digests, naming a bad line by its number only', () => {
    const digest = tokenSha256('x');
    expect([...parseTokenFile(`\n# c\na ${digest}\n  b   ${digest}  \n`, 'f').keys()]).toEqual(['a', 'b']);
    expect(() => parseTokenFile(`a ${digest}\nb not-a-digest\n`, 'f')).toThrow(
      'f:2: expected "<name> <sha256 of the token, 64 hex digits>"',
    );
    expect(() => parseTokenFile('plain-token-by-mistake\n', 'f')).toThrow(/^f:1: /);
  });
});
