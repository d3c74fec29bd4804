import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerWorkload } from '@throughline/ledger';
import { verifyLedger } from '@throughline/stores';
import { waitFor } from '@throughline/testkit';
import { expectExactlyOnce, stateDuplicates } from './exactly-once.js';
import { acquisitions, sendPaced } from './load.js';
import {
  committedOf,
  ledgerCount,
  sendEvents,
  startStack,
  waitForCommitted,
  waitForIdle,
  type Stack,
} from './stack.js';

const EVENTS = 200_000;
/** Short, so a client retry after it reaches the state stage instead of being dropped by JetStream's window. */
const DUPLICATE_WINDOW_MS = 2000;

describe('kill -9 of the state service and the writer in the middle of a run', () => {
  let stack: Stack;
  const events = new LedgerWorkload({ accounts: 2000, tenants: 5, seed: 7, idPrefix: 'fault' }).take(EVENTS);

  beforeAll(async () => {
    stack = await startStack({
      partitions: 8,
      stateInstances: 2,
      writerInstances: 2,
      env: { BUS_DUPLICATE_WINDOW_MS: String(DUPLICATE_WINDOW_MS) },
    });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('ends with no lost event and no double effect', async () => {
    const load = sendPaced(stack.ingest, events, { perSecond: 40_000, batchSize: 500, concurrency: 4 });
    load.done.catch(() => undefined);
    const base = await ledgerCount(stack.pool);
    await waitFor(async () => (await ledgerCount(stack.pool)) - base > EVENTS / 5, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const state = stack.services.get('state-0')!;
    const writer = stack.services.get('writer-1')!;
    const acknowledgedAtKill = load.acknowledged;
    const [stateExit, writerExit] = await Promise.all([state.kill('SIGKILL'), writer.kill('SIGKILL')]);
    expect(stateExit.signal).toBe('SIGKILL');
    expect(writerExit.signal).toBe('SIGKILL');
    const committedAtKill = (await ledgerCount(stack.pool)) - base;
    // The kill landed with work in flight: events acknowledged to the client and not committed.
    expect(acknowledgedAtKill).toBeGreaterThan(committedAtKill);
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
    await load.done;
    process.stdout.write(
      `\n[e2e] killed state-0 and writer-1 with ${committedAtKill} of ${EVENTS} events committed ` +
        `(${acknowledgedAtKill - committedAtKill} acknowledged and not committed then); client retries ${JSON.stringify(load.retries)}\n`,
    );
    await expectExactlyOnce(
      stack,
      events.map((e) => e.eventId),
    );
  });

  it('rebuilds from PostgreSQL what Redis lost: retries are still recognised and balances carry on', async () => {
    const extra = new LedgerWorkload({ accounts: 2000, tenants: 5, seed: 8, idPrefix: 'after-flush' }).take(
      20_000,
    );
    // Committed before the loss (already, when the test above ran; a retry of them changes nothing then).
    const before = events.slice(0, 20_000);
    await sendEvents(stack.ingest, before, { batchSize: 500, concurrency: 4 });
    await waitForCommitted(stack.pool, before);
    await waitForIdle(stack);
    const states = [stack.services.get('state-0')!, stack.services.get('state-1')!];
    await Promise.all(states.map((s) => s.kill('SIGKILL')));
    await stack.redis.flushAll();
    await Promise.all(states.map((s) => s.restart()));
    await Promise.all(states.map((s) => s.waitForOutput(/"msg":"ready"/)));
    // Past JetStream's duplicate window, so the retry reaches the state stage (a restarted instance counts from 0).
    await new Promise((r) => setTimeout(r, DUPLICATE_WINDOW_MS + 1000));
    const duplicatesBefore = await stateDuplicates(stack);
    // A client retry of events committed before the loss, then new events for the same accounts.
    await sendEvents(stack.ingest, [...before, ...extra], { batchSize: 500, concurrency: 4 });
    await waitForCommitted(stack.pool, extra);
    await waitForIdle(stack);
    // Every retried event was recognised as applied before, from what PostgreSQL holds: none applied again.
    expect((await stateDuplicates(stack)) - duplicatesBefore).toBeGreaterThanOrEqual(before.length);
    expect(await committedOf(stack.pool, [...before, ...extra])).toBe(before.length + extra.length);
    const report = await verifyLedger(stack.pool, {
      expectedEventIds: [...before, ...extra].map((e) => e.eventId),
    });
    expect(report.violations).toEqual([]);
    // Each state instance rebuilt the partitions it took from PostgreSQL: every partition, once.
    const rebuilt = new Set(states.flatMap((s) => rebuiltPartitions(s.output())));
    expect([...rebuilt].sort((a, b) => a - b)).toEqual(Array.from({ length: stack.partitions }, (_, p) => p));
  });
});

/** The partitions a state instance's log says it rebuilt from PostgreSQL after its store lost them. */
function rebuiltPartitions(output: string): number[] {
  const out: number[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('state store lost this partition; rebuilding from PostgreSQL')) continue;
    try {
      out.push((JSON.parse(line) as { partition: number }).partition);
    } catch {
      // not a JSON line
    }
  }
  return out;
}
