/**
 * The bus against nats-servers that demand credentials or TLS: each way to authenticate works from its file, a
 * wrong or missing credential is refused with a clear error that never holds the secret, and a server that
 * verifies clients accepts only a certificate of its CA.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { subjects } from '@throughline/contracts';
import { createTestPki, startNats, type NatsHandle, type TestPki } from '@throughline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusErrorCode, checkNatsAuth, connectJetStreamBus, isBusError, type NatsAuth } from '../src/index.js';

let dir: string;
const servers: NatsHandle[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'throughline-nats-auth-'));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function secretFile(name: string, content: string): string {
  const file = join(dir, name);
  writeFileSync(file, `${content}\n`, { mode: 0o600 });
  return file;
}

async function nats(config: string): Promise<NatsHandle> {
  const server = await startNats({ config });
  servers.push(server);
  return server;
}

/** Connects, creates the topology and publishes one message. */
async function works(url: string, auth: NatsAuth): Promise<void> {
  const bus = await connectJetStreamBus({ servers: url, auth, requestTimeoutMs: 5_000 });
  try {
    await bus.ensureTopology();
    const ack = await bus.publish(subjects.of('ingested', 0), new Uint8Array([1]), {
      msgId: `m-${Date.now()}`,
    });
    expect(ack.seq).toBeGreaterThan(0);
  } finally {
    await bus.close();
  }
}

async function refused(url: string, auth: NatsAuth): Promise<Error> {
  const err = await connectJetStreamBus({ servers: url, auth, connectTimeoutMs: 3_000 }).then(
    async (bus) => {
      await bus.close();
      throw new Error('connected, though it should have been refused');
    },
    (e: unknown) => e as Error,
  );
  expect(isBusError(err, BusErrorCode.connectFailed)).toBe(true);
  return err;
}

describe('NATS authentication from files', () => {
  it('user and password', async () => {
    const server = await nats('authorization { users = [ { user: "ingest", password: "pw-7f3a1" } ] }');
    await works(server.url, { user: 'ingest', passwordFile: secretFile('password', 'pw-7f3a1') });
    const wrong = await refused(server.url, {
      user: 'ingest',
      passwordFile: secretFile('wrong', 'pw-wrong'),
    });
    expect(wrong.message).toMatch(/authorization violation/i);
    expect(wrong.message).not.toContain('pw-wrong');
    await refused(server.url, {});
    // A password in the URL is not repeated in the error.
    const inUrl = await refused(server.url.replace('nats://', 'nats://ingest:pw-url-9@'), {});
    expect(inUrl.message).not.toContain('pw-url-9');
  });

  it('token', async () => {
    const server = await nats('authorization { token: "tok-51c0e" }');
    await works(server.url, { tokenFile: secretFile('token', 'tok-51c0e') });
    await refused(server.url, { tokenFile: secretFile('bad-token', 'tok-nope') });
  });

  it('NKEY seed', async () => {
    const user = createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const server = await nats(`authorization { users = [ { nkey: "${user.getPublicKey()}" } ] }`);
    await works(server.url, { nkeySeedFile: secretFile('user.nk', seed) });
    const other = new TextDecoder().decode(createUser().getSeed());
    await refused(server.url, { nkeySeedFile: secretFile('other.nk', other) });
  });

  it(
    'a creds file (a user JWT and its seed) against a server in operator mode',
    { timeout: 20_000 },
    async () => {
      // What nsc makes: an operator, an account allowed JetStream, a user of that account and its creds file.
      const operator = createOperator();
      const account = createAccount();
      const systemAccount = createAccount();
      // Every limit unlimited (a limit left out of the JWT is 0 to the server), JetStream on.
      const jetstream = {
        subs: -1,
        data: -1,
        payload: -1,
        imports: -1,
        exports: -1,
        wildcards: true,
        conn: -1,
        leaf: -1,
        mem_storage: -1,
        disk_storage: -1,
        streams: -1,
        consumer: -1,
      };
      const operatorJwt = await encodeOperator('throughline-test', operator, {
        system_account: systemAccount.getPublicKey(),
      });
      const accountJwt = await encodeAccount(
        'pipeline',
        account,
        { limits: jetstream },
        { signer: operator },
      );
      const systemJwt = await encodeAccount('SYS', systemAccount, {}, { signer: operator });
      const user = createUser();
      const creds = new TextDecoder().decode(fmtCreds(await encodeUser('ingest', user, account), user));
      const server = await nats(
        [
          `operator: ${operatorJwt}`,
          `system_account: ${systemAccount.getPublicKey()}`,
          'resolver: MEMORY',
          `resolver_preload: { ${account.getPublicKey()}: ${accountJwt}, ${systemAccount.getPublicKey()}: ${systemJwt} }`,
        ].join('\n'),
      );
      await works(server.url, { credsFile: secretFile('ingest.creds', creds) });
      // A user signed by an account the operator does not know is refused; the creds' seed never shows.
      const stranger = createUser();
      const strangerCreds = new TextDecoder().decode(
        fmtCreds(await encodeUser('stranger', stranger, createAccount()), stranger),
      );
      const err = await refused(server.url, { credsFile: secretFile('stranger.creds', strangerCreds) });
      expect(err.message).not.toContain(new TextDecoder().decode(stranger.getSeed()));
    },
  );

  it('names a credential file it cannot read, not its content', async () => {
    const server = await nats('authorization { token: "tok-0" }');
    const err = await refused(server.url, { tokenFile: join(dir, 'missing-token') });
    expect(err.message).toContain(`cannot read the NATS token file ${join(dir, 'missing-token')} (ENOENT)`);
  });

  it('refuses settings that contradict each other', () => {
    expect(checkNatsAuth({ tokenFile: 't', nkeySeedFile: 'n' })).toBe(
      'choose one way to authenticate to NATS, not token and NKEY seed',
    );
    expect(checkNatsAuth({ user: 'u' })).toBe(
      'a NATS user needs its password file, and a password file its user',
    );
    expect(checkNatsAuth({ tlsCertFile: 'c' })).toBe(
      'a NATS client certificate needs its key, and a key its certificate',
    );
    expect(checkNatsAuth({ user: 'u', passwordFile: 'p', tlsCaFile: 'ca' })).toBeUndefined();
  });
});

describe('TLS to NATS', () => {
  let pki: TestPki;
  afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));

  it('checks the server against the CA, and gives a client certificate to a server that verifies clients', async () => {
    pki = createTestPki();
    const ca = pki.ca('nats-ca');
    const serverCert = pki.cert('nats-server', ca, 'server');
    const client = pki.cert('nats-client', ca, 'client');
    const otherCa = pki.ca('other-ca');
    const stranger = pki.cert('stranger', otherCa, 'client');
    const server = await nats(
      `tls { cert_file: "${serverCert.cert}", key_file: "${serverCert.key}", ca_file: "${ca.cert}", verify: true }`,
    );
    await works(server.url, { tlsCaFile: ca.cert, tlsCertFile: client.cert, tlsKeyFile: client.key });
    // No client certificate, one of another CA, or a server the client's CA did not sign: refused.
    await refused(server.url, { tlsCaFile: ca.cert });
    await refused(server.url, { tlsCaFile: ca.cert, tlsCertFile: stranger.cert, tlsKeyFile: stranger.key });
    await refused(server.url, { tlsCaFile: otherCa.cert, tlsCertFile: client.cert, tlsKeyFile: client.key });
  }, 30_000);
});
