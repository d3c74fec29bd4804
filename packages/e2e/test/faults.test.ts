import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWorkload } from '@throughline/ledger';
import { verifyLedger } from '@throughline/stores';
import { waitFor } from '@throughline/testkit';
import { acquisitions } from './load.js';
import { ledgerCount, sendEvents, startStack, waitForIdle, waitForLedger, type Stack } from './stack.js';

const EVENTS = 200_000;

describe('kill -9 of the state service and the writer in the middle of a run', () => {
  let stack: Stack;
  const events = new LedgerWorkload({ accounts: 2000, tenants: 5, seed: 7, idPrefix: 'fault' }).take(EVENTS);

  beforeAll(async () => {
    stack = await startStack({ partitions: 8, stateInstances: 2, writerInstances: 2 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('ends with no lost event and no double effect', async () => {
    const sending = sendEvents(stack.ingest, events, { batchSize: 500, concurrency: 4 });
    await waitFor(async () => (await ledgerCount(stack.pool)) > EVENTS / 5, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const state = stack.services.get('state-0')!;
    const writer = stack.services.get('writer-1')!;
    const [stateExit, writerExit] = await Promise.all([state.kill('SIGKILL'), writer.kill('SIGKILL')]);
    expect(stateExit.signal).toBe('SIGKILL');
    expect(writerExit.signal).toBe('SIGKILL');
    const committedAtKill = await ledgerCount(stack.pool);
    expect(committedAtKill).toBeLessThan(EVENTS);
    // The survivors take the dead instances' partitions once their leases expire: the work they had in flight is
    // redelivered to another owner before the killed ones come back.
    const taken = (name: string): number => acquisitions(stack.services.get(name)!.output()).length;
    const [stateBefore, writerBefore] = [taken('state-1'), taken('writer-0')];
    await waitFor(() => taken('state-1') > stateBefore && taken('writer-0') > writerBefore, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: "the surviving state and writer instances never took over the killed ones' partitions",
    });
    await Promise.all([state.restart(), writer.restart()]);
    await Promise.all([state.waitForOutput(/"msg":"ready"/), writer.waitForOutput(/"msg":"ready"/)]);
    await sending;
    await waitForLedger(stack.pool, EVENTS);
    await waitForIdle(stack);
    process.stdout.write(
      `\n[e2e] killed state-0 and writer-1 with ${committedAtKill} of ${EVENTS} events committed; all committed after restart\n`,
    );
    const report = await verifyLedger(stack.pool, { expectedEventIds: events.map((e) => e.eventId) });
    expect(report.violations).toEqual([]);
    expect(await ledgerCount(stack.pool)).toBe(EVENTS);
  });

  it('rebuilds from PostgreSQL what Redis lost: retries are still recognised and balances carry on', async () => {
    const extra = new LedgerWorkload({ accounts: 2000, tenants: 5, seed: 8, idPrefix: 'after-flush' }).take(
      20_000,
    );
    const states = [stack.services.get('state-0')!, stack.services.get('state-1')!];
    await Promise.all(states.map((s) => s.kill('SIGKILL')));
    await stack.redis.flushAll();
    await Promise.all(states.map((s) => s.restart()));
    await Promise.all(states.map((s) => s.waitForOutput(/"msg":"ready"/)));
    // A client retry of events committed before the loss, then new events for the same accounts.
    await sendEvents(stack.ingest, [...events.slice(0, 20_000), ...extra], {
      batchSize: 500,
      concurrency: 4,
    });
    await waitForLedger(stack.pool, EVENTS + extra.length);
    await waitForIdle(stack);
    expect(await ledgerCount(stack.pool)).toBe(EVENTS + extra.length);
    const report = await verifyLedger(stack.pool, {
      expectedEventIds: [...events, ...extra].map((e) => e.eventId),
    });
    expect(report.violations).toEqual([]);
    expect(
      states.some((s) => /state store lost this partition; rebuilding from PostgreSQL/.test(s.output())),
    ).toBe(true);
  });
});
