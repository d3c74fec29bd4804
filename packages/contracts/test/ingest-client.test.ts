/**
 * The one ingest client: what it retries, how long it waits, what it sends. A stand-in IngestService answers a
 * script of statuses (a real ingest cannot be made to answer RESOURCE_EXHAUSTED, then OK, on cue).
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  Direction,
  IngestServiceClient,
  IngestServiceService,
  publishWithRetry,
  type Event,
  type IngestServiceServer,
} from '../src/index.js';

let server: grpc.Server;
let client: IngestServiceClient;
/** What the stand-in answers, call after call (then OK); and what it saw. */
let script: { code: grpc.status; retryAfterMs?: string }[] = [];
let calls: { at: number; authorization: grpc.MetadataValue[] }[] = [];

const stand_in: IngestServiceServer = {
  publishBatch(call, callback) {
    calls.push({ at: performance.now(), authorization: call.metadata.get('authorization') });
    const next = script.shift();
    if (next === undefined) {
      callback(null, { accepted: call.request.events.length });
      return;
    }
    const metadata = new grpc.Metadata();
    if (next.retryAfterMs !== undefined) metadata.set('retry-after-ms', next.retryAfterMs);
    callback({ code: next.code, details: grpc.status[next.code], metadata });
  },
  publishStream(_call, callback) {
    callback({ code: grpc.status.UNIMPLEMENTED });
  },
};

const events: Event[] = [
  {
    eventId: 'e-1',
    accountId: 'a-1',
    tenantId: 't-1',
    direction: Direction.DIRECTION_CREDIT,
    amountMinor: 1n,
    currency: 'EUR',
    occurredAtMs: 0n,
    attributes: {},
  },
];

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(IngestServiceService, stand_in);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  client = new IngestServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
});

beforeEach(() => {
  script = [];
  calls = [];
});

describe('publishWithRetry', () => {
  it('retries RESOURCE_EXHAUSTED after its retry-after-ms hint and UNAVAILABLE after the pause, then answers', async () => {
    script = [
      { code: grpc.status.RESOURCE_EXHAUSTED, retryAfterMs: '150' },
      { code: grpc.status.UNAVAILABLE },
      { code: grpc.status.RESOURCE_EXHAUSTED, retryAfterMs: 'soon' },
    ];
    const retries: [string, number][] = [];
    const accepted = await publishWithRetry(client, events, {
      pauseMs: 60,
      token: 'tlc_secret',
      onRetry: (code, attempt) => retries.push([grpc.status[code], attempt]),
    });
    expect(accepted).toBe(1);
    expect(retries).toEqual([
      ['RESOURCE_EXHAUSTED', 1],
      ['UNAVAILABLE', 2],
      ['RESOURCE_EXHAUSTED', 3],
    ]);
    const gaps = calls.slice(1).map((c, i) => c.at - calls[i]!.at);
    // At least the hint, then the pause twice (an unreadable hint falls back to it). Lower bounds only.
    expect(gaps[0]).toBeGreaterThanOrEqual(145);
    expect(gaps[1]).toBeGreaterThanOrEqual(55);
    expect(gaps[2]).toBeGreaterThanOrEqual(55);
    expect(gaps[1]).toBeLessThan(gaps[0]!);
    expect(calls.every((c) => c.authorization[0] === 'Bearer tlc_secret')).toBe(true);
  });

  it('throws every other status at once, and the last one after maxAttempts or once aborted', async () => {
    for (const code of [
      grpc.status.INVALID_ARGUMENT,
      grpc.status.UNAUTHENTICATED,
      grpc.status.PERMISSION_DENIED,
    ]) {
      script = [{ code }];
      calls = [];
      await expect(publishWithRetry(client, events)).rejects.toMatchObject({ code });
      expect(calls).toHaveLength(1);
    }
    script = Array.from({ length: 5 }, () => ({ code: grpc.status.UNAVAILABLE }));
    calls = [];
    await expect(publishWithRetry(client, events, { maxAttempts: 3, pauseMs: 1 })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    expect(calls).toHaveLength(3);

    script = Array.from({ length: 5 }, () => ({ code: grpc.status.UNAVAILABLE }));
    calls = [];
    const aborted = new AbortController();
    aborted.abort();
    await expect(publishWithRetry(client, events, { signal: aborted.signal })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    expect(calls).toHaveLength(1);
    // No token: no authorization header at all.
    expect(calls[0]!.authorization).toEqual([]);
  });
});
