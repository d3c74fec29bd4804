/**
 * The five services over a NATS that demands a user, a password and mutual TLS: each service connects with its
 * NATS_* settings (files, as from mounted Secrets), events flow exactly once, a client without credentials is
 * refused, and no log holds the password.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusErrorCode, connectJetStreamBus, isBusError } from '@throughline/bus';
import { LedgerWorkload } from '@throughline/ledger';
import { expectExactlyOnce } from './exactly-once.js';
import { sendEvents, startStack, type Stack } from './stack.js';

describe('the services over a NATS with a password and mutual TLS', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ partitions: 4, stateInstances: 1, writerInstances: 1, natsSecured: true });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('connects every service with its NATS_* settings; events flow exactly once; others are refused', async () => {
    const events = new LedgerWorkload({ accounts: 500, tenants: 5, seed: 71, idPrefix: 'nats-auth' }).take(
      5_000,
    );
    await sendEvents(stack.ingest, events, { batchSize: 500, concurrency: 2 });
    await expectExactlyOnce(
      stack,
      events.map((e) => e.eventId),
    );

    const anonymous = await connectJetStreamBus({ servers: stack.nats.url, connectTimeoutMs: 3_000 }).catch(
      (e: unknown) => e,
    );
    expect(isBusError(anonymous, BusErrorCode.connectFailed)).toBe(true);

    const password = readFileSync(stack.natsPasswordFile!, 'utf8').trim();
    for (const service of stack.services.values()) expect(service.output()).not.toContain(password);
  });
});
