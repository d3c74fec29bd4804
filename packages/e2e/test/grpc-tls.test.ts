/**
 * The public gRPC APIs over mutual TLS, as a deployment would run them: ingest and config serve certificates made
 * for the test and require client certificates of the test's CA; enrich reaches config with its own. Events sent
 * by a client with a good certificate reach the ledger; a client without one, with a certificate of another CA,
 * or in plaintext is refused before any call.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestServiceClient } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { createTestPki, type CertFiles } from '@throughline/testkit';
import { publishBatch, startStack, waitForLedger, type Stack } from './stack.js';

describe('ingest and config over mutual TLS', () => {
  let stack: Stack;
  let ca: CertFiles;
  let client: CertFiles;
  let stranger: CertFiles;

  beforeAll(async () => {
    const pki = createTestPki();
    ca = pki.ca('ca');
    const server = pki.cert('server', ca, 'server');
    client = pki.cert('client', ca, 'client');
    stranger = pki.cert('stranger', pki.ca('other-ca'), 'client');
    const serve = {
      GRPC_PLAINTEXT: 'false',
      GRPC_TLS_CERT_FILE: server.cert,
      GRPC_TLS_KEY_FILE: server.key,
      GRPC_TLS_CLIENT_CA_FILE: ca.cert,
    };
    stack = await startStack({
      partitions: 2,
      stateInstances: 1,
      writerInstances: 1,
      serviceEnv: {
        ingest: serve,
        config: serve,
        enrich: {
          CONFIG_PLAINTEXT: 'false',
          CONFIG_TLS_CA_FILE: ca.cert,
          CONFIG_TLS_CERT_FILE: client.cert,
          CONFIG_TLS_KEY_FILE: client.key,
        },
      },
    });
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  const ingest = (credentials: grpc.ChannelCredentials): IngestServiceClient =>
    new IngestServiceClient(stack.ingestAddress, credentials);
  const tls = (who?: CertFiles): grpc.ChannelCredentials =>
    grpc.credentials.createSsl(
      readFileSync(ca.cert),
      who ? readFileSync(who.key) : null,
      who ? readFileSync(who.cert) : null,
    );

  it('commits what a client with a certificate of the CA sends (enrich reads config over mutual TLS)', async () => {
    const events = new LedgerWorkload({ accounts: 50, seed: 61, idPrefix: 'tls' }).take(2_000);
    const c = ingest(tls(client));
    try {
      for (let i = 0; i < events.length; i += 500) await publishBatch(c, events.slice(i, i + 500));
    } finally {
      c.close();
    }
    // Enriched with the tenants' configuration: the config feed connected over mutual TLS.
    await waitForLedger(stack.pool, 2_000);
    const { rows } = await stack.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM ledger WHERE event_id LIKE 'tls-%' AND config_version > 0",
    );
    expect(rows[0]!.n).toBe(2_000);
  });

  it('refuses clients without a certificate, with one of another CA, or in plaintext', async () => {
    const events = new LedgerWorkload({ accounts: 5, seed: 62, idPrefix: 'tls-refused' }).take(10);
    for (const credentials of [tls(), tls(stranger), grpc.credentials.createInsecure()]) {
      const c = ingest(credentials);
      try {
        const err = (await publishBatch(c, events).catch((e: unknown) => e)) as grpc.ServiceError;
        expect(err.code).toBe(grpc.status.UNAVAILABLE);
      } finally {
        c.close();
      }
    }
    const { rows } = await stack.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM ledger WHERE event_id LIKE 'tls-refused-%'",
    );
    expect(rows[0]!.n).toBe(0);
  });
});
