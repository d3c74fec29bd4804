/**
 * An ingest no client can bring down: arbitrary requests (random text in every string, control characters,
 * huge maps, extreme numbers, undecodable bytes, oversize requests, a stream that never ends) against the real
 * ingest of a running stack. Every call gets OK, INVALID_ARGUMENT or RESOURCE_EXHAUSTED, the process stays up,
 * and every event that got OK reaches the ledger.
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Direction, PublishBatchRequest, type Event } from '@throughline/contracts';
import { waitFor } from '@throughline/testkit';
import { publishBatch, startStack, type Stack } from './stack.js';

const ALLOWED = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.RESOURCE_EXHAUSTED]);

/** A string a hostile client might send: any code units (NUL, controls, lone surrogates), or just long. */
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 4 }),
  fc.string({ unit: 'grapheme', minLength: 100, maxLength: 400 }),
  fc.constant(''),
);
const bigint64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

/** A valid event; its `undefined` id is replaced by a fresh unique one when sent. */
const validEvent = fc.record({
  eventId: fc.constant(undefined as string | undefined),
  accountId: fc.constantFrom('acc-1', 'acc-2', 'acc-3', 'compte-é', '口座'),
  tenantId: fc.constantFrom('tenant-1', 'tenant-2'),
  direction: fc.constantFrom(Direction.DIRECTION_DEBIT, Direction.DIRECTION_CREDIT),
  amountMinor: fc.bigInt({ min: 1n, max: 100_000n }),
  currency: fc.constantFrom('EUR', 'USD'),
  occurredAtMs: fc.constant(1_700_000_000_000n),
  attributes: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 16 }), {
    maxKeys: 3,
  }),
});

/** Events mixing valid fields with hostile ones. */
const hostileEvent = fc.record({
  eventId: fc.option(hostileText, { nil: undefined, freq: 2 }),
  accountId: fc.oneof(fc.constantFrom('acc-1', 'acc-2', 'acc-3'), hostileText),
  tenantId: fc.oneof(fc.constantFrom('tenant-1', 'tenant-2'), hostileText),
  direction: fc.oneof(
    fc.constantFrom(Direction.DIRECTION_DEBIT, Direction.DIRECTION_CREDIT),
    fc.integer({ min: -5, max: 2 ** 31 - 1 }),
  ),
  amountMinor: fc.oneof(fc.bigInt({ min: 1n, max: 100_000n }), bigint64),
  currency: fc.oneof(fc.constantFrom('EUR', 'USD'), hostileText),
  occurredAtMs: fc.oneof(fc.constant(1_700_000_000_000n), bigint64),
  attributes: fc.oneof(
    fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 3 }),
    fc.dictionary(hostileText, hostileText, { maxKeys: 5 }),
  ),
});

/** Mostly valid events, a hostile one now and then: requests are accepted often enough to follow them. */
const arbitraryEvent = fc.oneof({ arbitrary: validEvent, weight: 4 }, { arbitrary: hostileEvent, weight: 1 });

/** A valid event to vary. */
const PLAIN: Event = {
  eventId: 'hostile-plain',
  accountId: 'acc-1',
  tenantId: 'tenant-1',
  direction: Direction.DIRECTION_CREDIT,
  amountMinor: 1n,
  currency: 'EUR',
  occurredAtMs: 1_700_000_000_000n,
  attributes: {},
};

function code(err: unknown): grpc.status {
  return err === undefined ? grpc.status.OK : (err as grpc.ServiceError).code;
}

describe('an ingest no client can bring down', () => {
  let stack: Stack;
  let raw: grpc.Client;
  const accepted = new Set<string>();
  let fresh = 0;
  let refused = 0;

  beforeAll(async () => {
    stack = await startStack({ partitions: 4, stateInstances: 1, writerInstances: 1 });
    raw = new grpc.Client(stack.ingestAddress, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
  }, 120_000);
  afterAll(async () => {
    raw?.close();
    await stack?.stop();
  });

  /** PublishBatch with raw bytes as the request: what no generated client would send. */
  const sendBytes = (bytes: Uint8Array): Promise<grpc.ServiceError | undefined> =>
    new Promise((resolve) => {
      raw.makeUnaryRequest(
        '/throughline.v1.IngestService/PublishBatch',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(bytes),
        (err) => resolve(err ?? undefined),
      );
    });

  const ingestAlive = (): void => {
    expect(stack.services.get('ingest')!.pid).toBeDefined();
  };

  it('answers arbitrary events with OK, INVALID_ARGUMENT or RESOURCE_EXHAUSTED, and commits every OK', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbitraryEvent, { minLength: 0, maxLength: 6 }), async (drafts) => {
        const events: Event[] = drafts.map((d) => ({ ...d, eventId: d.eventId ?? `hostile-${fresh++}` }));
        const err = await publishBatch(stack.ingest, events).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(ALLOWED, `${String(err)}`).toContain(code(err));
        // (As the server decoded it: a lone surrogate travels as U+FFFD.)
        if (err === undefined) for (const e of events) accepted.add(Buffer.from(e.eventId).toString());
        if (code(err) === grpc.status.INVALID_ARGUMENT) {
          refused++;
          // The caller learns which event (or the request) and which field.
          const e = err as grpc.ServiceError;
          expect(e.metadata.get('tl-violation-index')).toHaveLength(1);
          expect(e.metadata.get('tl-violation-field')[0]).toMatch(/^[\x20-\x7e]+$/);
        }
      }),
      { numRuns: 400 },
    );
    ingestAlive();
    // Both kinds of answer were seen.
    expect(accepted.size).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(50);
  });

  it('refuses undecodable, oversize and hostile requests with a status naming the problem', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2_000 }), async (bytes) => {
        const err = await sendBytes(bytes);
        expect(ALLOWED, `${String(err)}`).toContain(code(err));
        if (err === undefined)
          for (const e of PublishBatchRequest.decode(bytes).events) accepted.add(e.eventId);
      }),
      { numRuns: 300 },
    );

    // 2 MB of empty events: counted on the bytes, refused before a single one is decoded.
    const empties = new Uint8Array(2_000_000);
    for (let i = 0; i < empties.length; i += 2) empties[i] = 0x0a;
    const many = await sendBytes(empties);
    expect(many?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(many?.details).toMatch(/^events: holds 1000000 events, at most 10000 allowed per request$/);

    // Larger than any valid request: grpc-js refuses it unread.
    const huge = await sendBytes(new Uint8Array(40 * 1024 * 1024));
    expect(huge?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);

    // A huge attribute map.
    const base: Event = { ...PLAIN, eventId: 'hostile-map' };
    const attributes = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`k${i}`, 'v']));
    const mapErr = (await publishBatch(stack.ingest, [{ ...base, attributes }]).catch((e: unknown) => e)) as
      grpc.ServiceError | undefined;
    expect(mapErr?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(mapErr?.details).toMatch(/^events\[0\]\.event: is \d+ bytes encoded, at most \d+ allowed$/);

    // A NUL in an id: refused naming the event and field (it would be poison for PostgreSQL downstream).
    const nul = (await publishBatch(stack.ingest, [{ ...base, eventId: 'a\u0000b' }]).catch(
      (e: unknown) => e,
    )) as grpc.ServiceError;
    expect(nul.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(nul.details).toBe(
      'events[0].event_id: must not hold control characters, found U+0000 at character 1',
    );
    ingestAlive();
  });

  it('survives a streamed event with a non-ASCII attribute key and a too-long value, and a stream that never ends', async () => {
    const base: Event = { ...PLAIN, eventId: 'hostile-stream', attributes: { 'clé-ü-🎉': 'x'.repeat(300) } };
    for (const send of ['batch', 'stream'] as const) {
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        if (send === 'batch') {
          publishBatch(stack.ingest, [base]).then(
            () => resolve({ code: grpc.status.OK } as grpc.ServiceError),
            resolve,
          );
          return;
        }
        const call = stack.ingest.publishStream((e) => resolve(e!));
        call.write({ events: [base] });
        call.end();
      });
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err.details).toMatch(
        /events\[0\]\.attributes\["clé-ü-🎉"\]: value is 300 bytes, at most 256 allowed/,
      );
      expect(err.metadata.get('tl-violation-field')).toEqual([
        'attributes["cl\\u00e9-\\u00fc-\\ud83c\\udf89"]',
      ]);
    }

    // A stream that stays open: other calls are served meanwhile, and cancelling it harms nothing.
    const open = stack.ingest.publishStream(() => undefined);
    open.write({ events: [{ ...base, eventId: `hostile-open-${fresh++}`, attributes: {} }] });
    const next = { ...base, eventId: `hostile-${fresh++}`, attributes: {} };
    await publishBatch(stack.ingest, [next]);
    accepted.add(next.eventId);
    open.cancel();
    ingestAlive();
  });

  it('stays up, and every event that got OK reaches the ledger', async () => {
    ingestAlive();
    const ids = [...accepted];
    const committed = async (): Promise<number> =>
      (
        await stack.pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM ledger WHERE event_id = ANY($1)',
          [ids],
        )
      ).rows[0]!.n;
    let found = 0;
    await waitFor(async () => (found = await committed()) === ids.length, {
      timeoutMs: 60_000,
      intervalMs: 200,
    }).catch(() => undefined);
    expect(found).toBe(ids.length);
  });
});
