/**
 * TLS of the public gRPC servers, with certificates made by openssl for the test: TLS and mutual TLS served from
 * files, every wrong client refused, a rotated certificate served without a restart, plaintext only when said.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestPki, type CertFiles, type TestPki } from '@throughline/testkit';
import {
  channelCredentialsOf,
  grpcTlsSettings,
  serverCredentialsOf,
  startGrpcServer,
  type ClientTls,
  type RunningGrpcServer,
} from '../src/index.js';

let pki: TestPki;
const files: Record<string, CertFiles> = {};
/** `name.crt` / `name.key` of the certificates made in beforeAll; other names: files in the same directory. */
const f = (name: string): string => {
  const [base, ext] = name.split('.') as [string, string];
  return files[base]?.[ext === 'key' ? 'key' : 'cert'] ?? path.join(pki.dir, name);
};

/** A grpc.health.v1 Check over `tls`: the status, or the gRPC error code. */
async function check(server: RunningGrpcServer, tls: ClientTls): Promise<string> {
  const client = new grpc.Client(`127.0.0.1:${server.port}`, channelCredentialsOf(tls));
  try {
    return await new Promise<string>((resolve) => {
      client.makeUnaryRequest(
        '/grpc.health.v1.Health/Check',
        () => Buffer.alloc(0),
        (b: Buffer) => b,
        {},
        { deadline: Date.now() + 5_000 },
        (err, res) => resolve(err ? `error ${grpc.status[err.code]}` : `ok ${res!.toString('hex')}`),
      );
    });
  } finally {
    client.close();
  }
}

describe('gRPC TLS', () => {
  const servers: RunningGrpcServer[] = [];
  beforeAll(() => {
    pki = createTestPki();
    files.ca = pki.ca('ca');
    files['other-ca'] = pki.ca('other-ca');
    files.server = pki.cert('server', files.ca, 'server');
    files.server2 = pki.cert('server2', files['other-ca'], 'server');
    files.client = pki.cert('client', files.ca, 'client');
    files.stranger = pki.cert('stranger', files['other-ca'], 'client');
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.shutdown(1_000)));
  });

  async function serve(env: Record<string, string>): Promise<RunningGrpcServer> {
    const tls = serverCredentialsOf(grpcTlsSettings.parse(env));
    if ('problem' in tls) throw new Error(tls.problem);
    await tls.loaded;
    const server = await startGrpcServer({
      address: '127.0.0.1:0',
      services: [],
      credentials: tls.credentials,
    });
    server.setServing(true);
    servers.push(server);
    return server;
  }

  it('serves TLS from files: a client trusting its CA gets through, plaintext and other CAs do not', async () => {
    const server = await serve({ GRPC_TLS_CERT_FILE: f('server.crt'), GRPC_TLS_KEY_FILE: f('server.key') });
    expect(await check(server, { caFile: f('ca.crt'), plaintext: false })).toBe('ok 0801'); // SERVING
    expect(await check(server, { plaintext: true })).toBe('error UNAVAILABLE');
    expect(await check(server, { caFile: f('other-ca.crt'), plaintext: false })).toBe('error UNAVAILABLE');
  });

  it('requires a client certificate of the client CA with mutual TLS', async () => {
    const server = await serve({
      GRPC_TLS_CERT_FILE: f('server.crt'),
      GRPC_TLS_KEY_FILE: f('server.key'),
      GRPC_TLS_CLIENT_CA_FILE: f('ca.crt'),
    });
    const ca = f('ca.crt');
    expect(
      await check(server, {
        caFile: ca,
        certFile: f('client.crt'),
        keyFile: f('client.key'),
        plaintext: false,
      }),
    ).toBe('ok 0801');
    expect(await check(server, { caFile: ca, plaintext: false })).toBe('error UNAVAILABLE');
    expect(
      await check(server, {
        caFile: ca,
        certFile: f('stranger.crt'),
        keyFile: f('stranger.key'),
        plaintext: false,
      }),
    ).toBe('error UNAVAILABLE');
  });

  it('serves a rotated certificate to new connections without a restart', async () => {
    copyFileSync(f('server.crt'), f('live.crt'));
    copyFileSync(f('server.key'), f('live.key'));
    const server = await serve({
      GRPC_TLS_CERT_FILE: f('live.crt'),
      GRPC_TLS_KEY_FILE: f('live.key'),
      GRPC_TLS_RELOAD_MS: '500',
    });
    expect(await check(server, { caFile: f('ca.crt'), plaintext: false })).toBe('ok 0801');
    // The new certificate is signed by another CA: a client trusting only that one gets in once it is served.
    writeFileSync(f('live.key'), readFileSync(f('server2.key')));
    writeFileSync(f('live.crt'), readFileSync(f('server2.crt')));
    const deadline = Date.now() + 15_000;
    let seen = '';
    while (Date.now() < deadline && seen !== 'ok 0801') {
      seen = await check(server, { caFile: f('other-ca.crt'), plaintext: false });
      if (seen !== 'ok 0801') await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen).toBe('ok 0801');
    expect(await check(server, { caFile: f('ca.crt'), plaintext: false })).toBe('error UNAVAILABLE');
  });

  it('serves plaintext only when told to, and names what is wrong otherwise', () => {
    const problem = (env: Record<string, string>): string | undefined => {
      const r = serverCredentialsOf(grpcTlsSettings.parse(env));
      return 'problem' in r ? r.problem : undefined;
    };
    expect(problem({})).toMatch(/^no TLS certificate: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE/);
    expect(problem({ GRPC_PLAINTEXT: 'true' })).toBeUndefined();
    expect(problem({ GRPC_TLS_CERT_FILE: f('server.crt') })).toBe(
      'GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE go together',
    );
    expect(
      problem({
        GRPC_TLS_CERT_FILE: f('server.crt'),
        GRPC_TLS_KEY_FILE: f('server.key'),
        GRPC_PLAINTEXT: 'true',
      }),
    ).toBe('GRPC_PLAINTEXT=true contradicts GRPC_TLS_CERT_FILE');
    expect(problem({ GRPC_TLS_CERT_FILE: f('nope.crt'), GRPC_TLS_KEY_FILE: f('server.key') })).toMatch(
      /^GRPC_TLS_CERT_FILE: cannot read .*nope\.crt/,
    );
    expect(problem({ GRPC_TLS_CERT_FILE: f('server.crt'), GRPC_TLS_KEY_FILE: f('client.key') })).toMatch(
      /^GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE: not a usable certificate and key/,
    );
    expect(() => channelCredentialsOf({ caFile: f('nope.crt'), plaintext: false })).toThrow(
      /cannot read the CA certificate .*nope\.crt/,
    );
  });
});
