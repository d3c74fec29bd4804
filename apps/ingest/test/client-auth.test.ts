/**
 * Who may publish: ingest's handler over real gRPC (plaintext and mutual TLS) on a real nats-server, the clients
 * written to the client bucket as `throughline clients` writes them. Every refusal is checked to have published
 * nothing: the topic's backlog counts what reached the stream.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { connectJetStreamBus, type Bus, type LeaseBucket } from '@throughline/bus';
import {
  clientMetadata,
  Direction,
  IngestServiceClient,
  publishOnce,
  type Event,
  type PublishStreamResponse,
} from '@throughline/contracts';
import {
  clientKey,
  createIngestService,
  encodeClientRecord,
  IngestAccess,
  IngestClientDirectory,
  IngestPublisher,
  ingestServiceDefinition,
  newClientToken,
  type IngestClientRecord,
} from '@throughline/pipeline';
import { silentLogger } from '@throughline/runtime';
import { createTestPki, startNats, waitFor, type NatsHandle } from '@throughline/testkit';

const pki = createTestPki();
const ca = pki.ca('ca');
const serverCert = pki.cert('ingest', ca, 'server');
const shopCert = pki.cert('shop', ca, 'client');
const strangerCert = pki.cert('stranger', ca, 'client');
const limits = { maxBatchEvents: 1000 };

let nats: NatsHandle;
let bus: Bus;
let clients: LeaseBucket;
let publisher: IngestPublisher;
const closers: (() => Promise<void> | void)[] = [];

async function serve(access: IngestAccess, credentials = grpc.ServerCredentials.createInsecure()) {
  const server = new grpc.Server();
  server.addService(
    ingestServiceDefinition(limits),
    createIngestService(publisher, limits, silentLogger, access),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  closers.push(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return port;
}

/** A closed ingest (the default): clients from the bucket. */
async function serveClosed(credentials?: grpc.ServerCredentials) {
  const directory = await IngestClientDirectory.open(clients, silentLogger);
  const access = new IngestAccess(directory);
  closers.push(() => access.close());
  return { port: await serve(access, credentials), access, directory };
}

function clientAt(port: number, credentials = grpc.credentials.createInsecure(), host = '127.0.0.1') {
  const client = new IngestServiceClient(`${host}:${port}`, credentials);
  closers.push(() => client.close());
  return client;
}

async function addClient(name: string, record: Partial<IngestClientRecord> & { tenants: string[] }) {
  const { token, sha256 } = newClientToken();
  const full: IngestClientRecord = {
    tokenSha256: sha256,
    certificate: false,
    createdAtMs: Date.now(),
    ...record,
  };
  await clients.put(clientKey(name), encodeClientRecord(full));
  return token;
}

let seq = 0;
const event = (tenantId: string): Event => ({
  eventId: `auth-${++seq}`,
  accountId: `acct-${seq % 7}`,
  tenantId,
  direction: Direction.DIRECTION_CREDIT,
  amountMinor: 100n,
  currency: 'EUR',
  occurredAtMs: BigInt(Date.now()),
  attributes: {},
});
const events = (tenantId: string, n: number) => Array.from({ length: n }, () => event(tenantId));

/** Events published to the ingested topic so far (one bus message per partition batch; 1 event each here). */
const published = () => bus.topicBacklog('ingested');

const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('the call succeeded');
    },
    (err: grpc.ServiceError) => err,
  );

beforeAll(async () => {
  nats = await startNats();
  bus = await connectJetStreamBus({ servers: nats.url, name: 'ingest-auth-test' });
  await bus.ensureTopology();
  clients = await bus.clients();
  // One event a bus message (lingerMs 0, batches of 1), so the backlog counts events.
  publisher = new IngestPublisher({ bus, partitionCount: 4, maxBatchEvents: 1, lingerMs: 0 });
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await publisher?.close();
  await bus?.close();
  await nats?.stop();
});

beforeEach(async () => {
  for (const entry of await clients.entries('client')) await clients.delete(entry.key);
});

describe('ingest authenticates each call and authorizes each event by tenant', () => {
  it('refuses a call without a credential, or with an unknown or malformed one, and publishes nothing', async () => {
    const { port } = await serveClosed();
    const client = clientAt(port);
    const before = await published();
    expect(await failure(publishOnce(client, events('tenant-1', 3)))).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details:
        'publishing needs a client credential: authorization: Bearer <token>, or a client certificate over mutual TLS',
    });
    expect(
      await failure(publishOnce(client, events('tenant-1', 3), { token: newClientToken().token })),
    ).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: 'the bearer token is not a client credential of this deployment (revoked, or never created)',
    });
    const malformed = await new Promise<grpc.ServiceError>((resolve) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', 'Basic dXNlcjpwYXNz');
      client.publishBatch({ events: events('tenant-1', 1) }, metadata, (err) => resolve(err!));
    });
    expect(malformed).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: 'authorization: expected "Bearer <token>"',
    });
    expect(await published()).toBe(before);
  });

  it('takes a client token for its tenants, and refuses an event of another tenant naming it, publishing nothing of that call', async () => {
    const token = await addClient('shop', { tenants: ['tenant-1', 'tenant-3'] });
    const { port } = await serveClosed();
    const client = clientAt(port);
    const before = await published();
    expect(await publishOnce(client, [...events('tenant-1', 2), event('tenant-3')], { token })).toBe(3);
    expect(await published()).toBe(before + 3);

    const batch = [...events('tenant-1', 2), event('tenant-2'), event('tenant-1')];
    const err = await failure(publishOnce(client, batch, { token }));
    expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err.details).toBe(
      `event 2 (event_id "${batch[2]!.eventId}"): client "shop" may not publish for tenant "tenant-2"`,
    );
    expect(err.metadata.get('tl-violation-index')).toEqual(['2']);
    expect(err.metadata.get('tl-violation-field')).toEqual(['tenant_id']);
    expect(await published()).toBe(before + 3);
  });

  it('knows a client created after it started, and refuses a revoked or replaced token within a moment', async () => {
    const { port, directory } = await serveClosed();
    const client = clientAt(port);
    const token = await addClient('late', { tenants: ['*'] });
    await waitFor(() => directory.size === 1, { message: 'ingest never learnt of the new client' });
    expect(await publishOnce(client, events('tenant-9', 1), { token })).toBe(1);

    // --replace: a new token, the old one refused.
    const replaced = await addClient('late', { tenants: ['*'] });
    await waitFor(
      () =>
        failure(publishOnce(client, events('tenant-9', 1), { token })).then(
          (e) => e.code === grpc.status.UNAUTHENTICATED,
        ),
      { message: 'the replaced token was still taken' },
    );
    expect(await publishOnce(client, events('tenant-9', 1), { token: replaced })).toBe(1);

    await clients.delete(clientKey('late'));
    await waitFor(() => directory.size === 0, { message: 'ingest never learnt of the revocation' });
    expect((await failure(publishOnce(client, events('tenant-9', 1), { token: replaced }))).code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
  });

  it('ends a stream whose client is revoked while it runs, counting what was accepted before', async () => {
    const token = await addClient('streamer', { tenants: ['tenant-1'] });
    const { port, directory } = await serveClosed();
    const client = clientAt(port);
    const before = await published();
    let answered!: (r: { err: grpc.ServiceError | null; res?: PublishStreamResponse }) => void;
    const result = new Promise<{ err: grpc.ServiceError | null; res?: PublishStreamResponse }>(
      (r) => (answered = r),
    );
    const stream = client.publishStream(clientMetadata(token), (err, res) => answered({ err, res }));
    stream.write({ events: events('tenant-1', 4) });
    await waitFor(async () => (await published()) === before + 4, {
      message: 'the first message was not published',
    });
    await clients.delete(clientKey('streamer'));
    await waitFor(() => directory.size === 0, { message: 'ingest never learnt of the revocation' });
    stream.write({ events: events('tenant-1', 4) });
    const { err } = await result;
    stream.end();
    expect(err).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details:
        "message 1: the client's credential was revoked during the stream (4 events of earlier messages were accepted)",
    });
    expect(await published()).toBe(before + 4);
  });

  it('refuses a stream without a credential at once, and a streamed event of another tenant by message and event', async () => {
    const token = await addClient('shop', { tenants: ['tenant-1'] });
    const { port } = await serveClosed();
    const client = clientAt(port);
    const call = (metadata: grpc.Metadata, messages: Event[][]) =>
      new Promise<grpc.ServiceError | null>((resolve) => {
        const stream = client.publishStream(metadata, (err) => resolve(err));
        for (const m of messages) stream.write({ events: m });
        stream.end();
      });
    expect(await call(new grpc.Metadata(), [events('tenant-1', 1)])).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    const second = [event('tenant-1'), event('tenant-2')];
    const err = await call(clientMetadata(token), [events('tenant-1', 2), second]);
    expect(err).toMatchObject({
      code: grpc.status.PERMISSION_DENIED,
      details: `message 1: event 1 (event_id "${second[1]!.eventId}"): client "shop" may not publish for tenant "tenant-2" (2 events of earlier messages were accepted)`,
    });
  });

  it('over mutual TLS takes a certificate whose common name is a certificate client, and no other', async () => {
    await addClient('shop', { certificate: true, tenants: ['tenant-1'] });
    // A client named like the certificate, but for tokens only: the certificate does not authenticate it.
    await addClient('stranger', { tenants: ['tenant-1'] });
    const { port } = await serveClosed(
      grpc.ServerCredentials.createSsl(
        readFileSync(ca.cert),
        [{ cert_chain: readFileSync(serverCert.cert), private_key: readFileSync(serverCert.key) }],
        true,
      ),
    );
    const as = (who: { cert: string; key: string }) =>
      clientAt(
        port,
        grpc.credentials.createSsl(readFileSync(ca.cert), readFileSync(who.key), readFileSync(who.cert)),
        'localhost',
      );
    expect(await publishOnce(as(shopCert), events('tenant-1', 2))).toBe(2);
    expect((await failure(publishOnce(as(shopCert), events('tenant-2', 1)))).code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    expect(await failure(publishOnce(as(strangerCert), events('tenant-1', 1)))).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      details: expect.stringContaining('client certificate "stranger" is not a client of this deployment'),
    });
  });

  it('lets every call in, for every tenant, only when open (the local stack on loopback)', async () => {
    const access = new IngestAccess(undefined);
    const client = clientAt(await serve(access));
    expect(await publishOnce(client, [event('tenant-1'), event('anyone')])).toBe(2);
    expect(access.refused).toEqual({ unauthenticated: 0, permissionDenied: 0 });
  });

  it('counts what it refused, by status', async () => {
    const token = await addClient('shop', { tenants: ['tenant-1'] });
    const { port, access } = await serveClosed();
    const client = clientAt(port);
    await failure(publishOnce(client, events('tenant-1', 1)));
    await failure(publishOnce(client, events('tenant-2', 1), { token }));
    await failure(publishOnce(client, events('tenant-2', 1), { token }));
    expect(access.refused).toEqual({ unauthenticated: 1, permissionDenied: 2 });
  });
});
