/**
 * The soak's harness: faults of each kind it injects land under load, one after another, and the run accounts for
 * every event (committed exactly once, the ledger verified, no dead letter). The benchmark runs minutes of them; this
 * runs three (a service, a server and a dependency refusing writes).
 */
import { expect, it } from 'vitest';
import { runSoak, SIZES, workload, type SoakFaultName } from '../src/index.js';

it('injects each fault under load, heals it, and every event sent is committed exactly once', async () => {
  const faults: SoakFaultName[] = ['service-kill', 'nats-kill', 'postgres-read-only'];
  const sizes = {
    ...SIZES.small,
    soak: { events: 40_000, perSecond: 2_000, faultEveryMs: 1_000, holdMs: 2_000 },
  };
  // The run gives up two minutes after the last fault, before the test's own time-out, to say what is held.
  const report = await runSoak(sizes, workload(sizes.soak.events), { faults, settleMs: 120_000 });
  process.stdout.write(
    `soak: ${report.faults.map((f) => `${f.name} lasted ${f.lastedMs} ms, going again after ${f.recoveredMs} ms`).join('; ')}\n`,
  );
  expect(report.held, 'events still held when the run gave up').toBeUndefined();
  expect(report.faults.map((f) => f.name).slice(0, faults.length)).toEqual(faults);
  expect(report.faults[0]!.target).toBe('state-0');
  for (const fault of report.faults) {
    expect(fault.lastedMs).toBeGreaterThanOrEqual(2_000);
    expect(fault.recoveredMs, fault.name).not.toBeNull();
  }
  expect(report.row.committed).toBe(40_000);
  expect(report.row.verified).toBe(true);
  expect(report.deadLetters).toBe(0);
  expect(report.ok).toBe(true);
}, 300_000);
