/**
 * The ingest service's handlers over real gRPC on loopback, open to every caller, with a publisher that holds each
 * publish until the test settles it: what is refused before anything is published and with which status, what a
 * publish failure answers, and a stream published a window of messages at a time.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  IngestServiceClient,
  PublishBatchRequest,
  type Event,
  type PublishBatchResponse,
  type PublishStreamResponse,
} from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { silentLogger, sleep } from '@throughline/runtime';
import {
  createIngestService,
  ingestServiceDefinition,
  PipelineError,
  PipelineErrorCode,
  ResourceExhaustedError,
  STREAM_WINDOW,
} from '../src/index.js';
import { until } from './support.js';

const LIMITS = { maxBatchEvents: 5 };
const events = (n: number, seed = 1): Event[] => new LedgerWorkload({ accounts: 10, seed }).take(n);

/** Publishes that stay in flight until settled: at once with `settleAtOnce`, else by the test. */
class HeldPublisher {
  readonly calls: { events: readonly Event[]; bytes: number | undefined; settle: (err?: Error) => void }[] =
    [];
  inFlight = 0;
  mostInFlight = 0;
  settleAtOnce: { error?: Error } | undefined;
  publish(events: readonly Event[], bytes?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.inFlight++;
      this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
      const settle = (err?: Error) => {
        this.inFlight--;
        if (err) reject(err);
        else resolve();
      };
      this.calls.push({ events, bytes, settle });
      if (this.settleAtOnce) settle(this.settleAtOnce.error);
    });
  }
}

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function serve(publisher: HeldPublisher) {
  const server = new grpc.Server();
  server.addService(ingestServiceDefinition(LIMITS), createIngestService(publisher, LIMITS, silentLogger));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const address = `127.0.0.1:${port}`;
  const client = new IngestServiceClient(address, grpc.credentials.createInsecure());
  /** PublishBatch with `bytes` as the request, whatever they hold. */
  const raw = new grpc.Client(address, grpc.credentials.createInsecure());
  closers.push(
    () => server.forceShutdown(),
    () => client.close(),
    () => raw.close(),
  );
  const publishBytes = (bytes: Buffer) =>
    new Promise<PublishBatchResponse>((resolve, reject) =>
      raw.makeUnaryRequest(
        '/throughline.v1.IngestService/PublishBatch',
        (b: Buffer) => b,
        (b: Buffer) => b as unknown as PublishBatchResponse,
        bytes,
        (err, res) => (err ? reject(err) : resolve(res!)),
      ),
    );
  const publishBatch = (request: PublishBatchRequest) =>
    new Promise<PublishBatchResponse>((resolve, reject) =>
      client.publishBatch(request, (err, res) => (err ? reject(err) : resolve(res))),
    );
  /** A PublishStream call: its messages written, then ended; `answer` is what it gets. */
  const stream = () => {
    let call!: grpc.ClientWritableStream<PublishBatchRequest>;
    const answer = new Promise<PublishStreamResponse>((resolve, reject) => {
      call = client.publishStream((err, res) => (err ? reject(err) : resolve(res)));
    });
    closers.push(() => call.cancel());
    return { write: (request: PublishBatchRequest) => call.write(request), end: () => call.end(), answer };
  };
  return { publishBatch, publishBytes, stream };
}

/** What a refusal says: its code, details and the violation named in its metadata. */
const refusal = (err: grpc.ServiceError) => ({
  code: err.code,
  details: err.details,
  index: err.metadata.get('tl-violation-index')[0],
  field: err.metadata.get('tl-violation-field')[0],
});

describe('ingest PublishBatch', () => {
  it('publishes a valid request with its size on the wire, and answers once it is published', async () => {
    const publisher = new HeldPublisher();
    const { publishBatch } = await serve(publisher);
    const request = { events: events(3) };
    const answer = publishBatch(request);
    await until(() => publisher.calls.length === 1, 'the publish');
    expect(publisher.calls[0]!.events).toEqual(request.events);
    expect(publisher.calls[0]!.bytes).toBe(PublishBatchRequest.encode(request).finish().length);
    publisher.calls[0]!.settle();
    expect(await answer).toEqual({ accepted: 3 });
  });

  const [good] = events(1);
  const refused: { what: string; bytes: () => Buffer; status: ReturnType<typeof refusal> }[] = [
    {
      what: 'an invalid event, naming it',
      bytes: () => encode([good!, { ...good!, amountMinor: 0n }]),
      status: {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'events[1].amount_minor: must be positive, got 0',
        index: '1',
        field: 'amount_minor',
      },
    },
    {
      what: 'a field name beyond ASCII, escaped in the metadata',
      bytes: () => encode([{ ...good!, attributes: { größe: 'x'.repeat(300) } }]),
      status: {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'events[0].attributes["größe"]: value is 300 bytes, at most 256 allowed',
        index: '0',
        field: 'attributes["gr\\u00f6\\u00dfe"]',
      },
    },
    {
      what: 'more events than a request may carry, before decoding them',
      bytes: () => encode(events(6)),
      status: {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'events: holds 6 events, at most 5 allowed per request',
        index: '-1',
        field: 'events',
      },
    },
    {
      what: 'bytes that are no PublishBatchRequest',
      bytes: () => Buffer.from([0x0a, 0xff]),
      status: {
        code: grpc.status.INVALID_ARGUMENT,
        details: expect.stringMatching(/^request: is not a valid PublishBatchRequest encoding: /) as string,
        index: '-1',
        field: 'request',
      },
    },
  ];
  it.each(refused)('refuses $what, publishing nothing', async ({ bytes, status }) => {
    const publisher = new HeldPublisher();
    const { publishBytes } = await serve(publisher);
    const err = await publishBytes(bytes()).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err && refusal(err)).toEqual(status);
    expect(publisher.calls).toEqual([]);
  });

  const failures: { what: string; error: Error; code: grpc.status; details: RegExp; retryAfter?: string }[] =
    [
      {
        what: 'too much in flight: RESOURCE_EXHAUSTED, with when to retry',
        error: new ResourceExhaustedError('events in flight over 100', 250),
        code: grpc.status.RESOURCE_EXHAUSTED,
        details: /^events in flight over 100$/,
        retryAfter: '250',
      },
      {
        what: 'the bus failing: UNAVAILABLE, to be retried',
        error: new PipelineError(PipelineErrorCode.unavailable, 'publish to tl.ingested.0 failed'),
        code: grpc.status.UNAVAILABLE,
        details: /retry the call \(events are de-duplicated by event_id\)$/,
      },
      {
        what: 'anything else: INTERNAL',
        error: new Error('unexpected'),
        code: grpc.status.INTERNAL,
        details: /^unexpected$/,
      },
    ];
  it.each(failures)('answers a failed publish of $what', async ({ error, code, details, retryAfter }) => {
    const publisher = new HeldPublisher();
    publisher.settleAtOnce = { error };
    const { publishBatch } = await serve(publisher);
    const err = await publishBatch({ events: events(1) }).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err?.code).toBe(code);
    expect(err?.details).toMatch(details);
    expect(err?.metadata.get('retry-after-ms')[0]).toBe(retryAfter);
  });
});

describe('ingest PublishStream', () => {
  it(`publishes at most ${STREAM_WINDOW} messages at a time, reading no more from the client meanwhile`, async () => {
    const publisher = new HeldPublisher();
    const { stream } = await serve(publisher);
    const call = stream();
    const messages = 3 * STREAM_WINDOW;
    for (let i = 0; i < messages; i++) call.write({ events: events(2, i + 1) });
    call.end();
    await until(() => publisher.calls.length >= STREAM_WINDOW, 'a window of publishes');
    await sleep(50);
    expect(publisher.calls.length).toBe(STREAM_WINDOW);
    for (let settled = 0; settled < messages; settled++) {
      await until(() => publisher.calls.length > settled, `publish ${settled}`);
      publisher.calls[settled]!.settle();
    }
    expect(await call.answer).toEqual({ accepted: BigInt(2 * messages), batches: BigInt(messages) });
    expect(publisher.mostInFlight).toBe(STREAM_WINDOW);
    expect(publisher.calls.map((c) => c.events[0]!.eventId)).toEqual(
      Array.from({ length: messages }, (_, i) => events(1, i + 1)[0]!.eventId),
    );
  });

  it('ends at an invalid message, once the earlier ones are published, counting their events', async () => {
    const publisher = new HeldPublisher();
    const { stream } = await serve(publisher);
    const call = stream();
    call.write({ events: events(2, 1) });
    call.write({ events: events(3, 2) });
    call.write({ events: [{ ...events(1, 3)[0]!, currency: 'euro' }] });
    call.write({ events: events(1, 4) });
    call.end();
    await until(() => publisher.calls.length === 2, 'the valid messages');
    publisher.calls[0]!.settle();
    publisher.calls[1]!.settle();
    const err = await call.answer.then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(err && refusal(err)).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details:
        'message 2: events[0].currency: must be an ISO 4217 code (three capital letters), got "euro" (5 events of earlier messages were accepted)',
      index: '0',
      field: 'currency',
    });
    expect(publisher.calls.length).toBe(2);
  });
});

function encode(list: Event[]): Buffer {
  return Buffer.from(PublishBatchRequest.encode({ events: list }).finish());
}
