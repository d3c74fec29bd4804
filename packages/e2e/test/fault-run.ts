/**
 * One fault under a steady load, accounted for: the load runs, the fault is applied once a fifth has committed and
 * healed after a while, and the run ends with every acknowledged event in exactly one ledger row, `verify` clean,
 * Redis agreeing with PostgreSQL, and no dead letter. What was sent, acknowledged, committed and dead-lettered is
 * reported.
 */
import { get } from 'node:http';
import { expect } from 'vitest';
import type { DeadLetter } from '@throughline/bus';
import type { Event } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import type { StageApp } from '@throughline/stack';
import { waitFor } from '@throughline/testkit';
import { expectExactlyOnce } from './exactly-once.js';
import { metricSum, scrapeMetrics, sendPaced, type PacedLoad } from './load.js';
import { ledgerCount, type Stack } from './stack.js';

/** `/readyz` of a service: its status code and body. */
export function readyz(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/readyz', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('/readyz timed out')));
  });
}

/** Dead letters stored after `afterSeq` (each test counts its own, whatever ran before it). */
export async function deadLettersAfter(stack: Stack, afterSeq: number): Promise<DeadLetter[]> {
  return (await stack.bus.readDeadLetters({ limit: 10_000 })).filter((l) => l.seq > afterSeq);
}

/** The sequence of the newest dead letter, 0 when there is none. */
export async function lastDeadLetter(stack: Stack): Promise<number> {
  return Math.max(0, ...(await stack.bus.readDeadLetters({ limit: 10_000 })).map((l) => l.seq));
}

export interface Observed {
  /** `/readyz` bodies answered with 503 while the fault lasted. */
  notReady: string[];
  /** Highest `tl_partitions_stalled` seen for the dependency, summed over the instances. */
  maxStalled: number;
}

/** Polls the instances of `apps` while `during` runs: their readiness and stalled-partition gauge. */
async function watch(
  stack: Stack,
  apps: readonly StageApp[],
  dependency: string,
  during: Promise<void>,
): Promise<Observed> {
  const observed: Observed = { notReady: [], maxStalled: 0 };
  let over = false;
  void during.finally(() => (over = true));
  while (!over) {
    let stalled = 0;
    for (const instance of apps.flatMap((app) => stack.instances(app))) {
      const port = stack.httpPorts.get(instance.name)!;
      const ready = await readyz(port);
      if (ready.status === 503) observed.notReady.push(ready.body);
      stalled += metricSum(await scrapeMetrics(port), 'tl_partitions_stalled', { tl_dependency: dependency });
    }
    observed.maxStalled = Math.max(observed.maxStalled, stalled);
    await new Promise((r) => setTimeout(r, 250));
  }
  await during;
  return observed;
}

function watchedApps(app: StageApp | readonly StageApp[]): readonly StageApp[] {
  return typeof app === 'string' ? [app] : app;
}

export interface Fault {
  /** Starts the fault (a kill, a refusal); called once a fifth of the load has committed. */
  apply(): Promise<void>;
  /** Ends it (a restart, a repair); called `durationMs` after `apply` returned. */
  heal(): Promise<void>;
  durationMs: number;
  /**
   * The stage (or stages) whose readiness and stalled-partition gauge are watched meanwhile, on which dependency:
   * every stage that uses it when the one that meets the fault first depends on the moment (a stage with no work
   * then opens no connection).
   */
  watch?: { app: StageApp | readonly StageApp[]; dependency: string };
}

export interface FaultRun {
  load: PacedLoad;
  observed: Observed;
  /** Events committed when the fault began (of this run's). */
  atFault: number;
  /** Events acknowledged and not yet committed when the fault began (at least). */
  inFlightAtFault: number;
}

/**
 * Runs `events` events of a fresh workload (ids prefixed with `name`) at `perSecond` with `fault` in the middle;
 * adds them to `acknowledged` (every event acknowledged so far in this stack) and checks the whole stack's
 * accounting; the fault begins at a moment events are in flight. A line for `report` says what happened.
 */
export async function runFault(
  stack: Stack,
  run: {
    acknowledged: string[];
    report: string[];
    redisLost?: boolean;
    /** The account of each acknowledged event, so a shortfall names the partitions that lost events. */
    accounts?: Map<string, string>;
  },
  opts: {
    name: string;
    seed: number;
    events: number;
    perSecond: number;
    fault: Fault;
  },
): Promise<FaultRun> {
  const { name, fault } = opts;
  const events: Event[] = new LedgerWorkload({
    accounts: 3000,
    tenants: 5,
    seed: opts.seed,
    idPrefix: name,
  }).take(opts.events);
  const before = await ledgerCount(stack.pool);
  const deadBefore = await lastDeadLetter(stack);
  const load = sendPaced(stack.ingest, events, { perSecond: opts.perSecond });
  await waitFor(async () => (await ledgerCount(stack.pool)) >= before + opts.events / 5, {
    timeoutMs: 60_000,
    intervalMs: 100,
    message: `${name}: the load did not start committing`,
  });
  // The fault is applied at a moment events are in flight: acknowledged (each a promise) and not yet in the
  // ledger. Acknowledged is read first and committed second (committed only grows), so the difference never
  // overstates them; the client sees an acknowledgement a little after ingest sent it, so at some moments it is
  // not positive: wait for one that is.
  let atFault = 0;
  let inFlightAtFault = 0;
  await waitFor(
    async () => {
      const acknowledgedNow = load.acknowledged;
      atFault = (await ledgerCount(stack.pool)) - before;
      inFlightAtFault = acknowledgedNow - atFault;
      return inFlightAtFault > 0;
    },
    { timeoutMs: 10_000, intervalMs: 10, message: `${name}: never an event in flight to apply the fault to` },
  );
  await fault.apply();
  const faultOver = new Promise<void>((resolve) => setTimeout(resolve, fault.durationMs)).then(() =>
    fault.heal(),
  );
  const observed = fault.watch
    ? await watch(stack, watchedApps(fault.watch.app), fault.watch.dependency, faultOver)
    : await faultOver.then(() => ({ notReady: [], maxStalled: 0 }));
  await load.done;
  run.acknowledged.push(...events.map((e) => e.eventId));
  for (const e of events) run.accounts?.set(e.eventId, e.accountId);
  await expectExactlyOnce(stack, run.acknowledged, {
    redisLost: run.redisLost,
    deadLettersAfter: deadBefore,
    ...(run.accounts === undefined ? {} : { accounts: run.accounts }),
  });
  const dead = await deadLettersAfter(stack, deadBefore);
  const retries = Object.entries(load.retries)
    .map(([code, n]) => `${n} ${code}`)
    .join(', ');
  run.report.push(
    `[e2e] ${name}: sent ${load.sent}, acknowledged ${load.acknowledged}, committed ${(await ledgerCount(stack.pool)) - before} ` +
      `(${atFault} when the fault began, ${inFlightAtFault} acknowledged and not committed then), dead-lettered ${dead.length}; fault for ${fault.durationMs} ms` +
      (fault.watch
        ? `, up to ${observed.maxStalled} ${watchedApps(fault.watch.app).join('+')} partitions stalled on ${fault.watch.dependency}, /readyz 503 ${observed.notReady.length} times`
        : '') +
      (retries === '' ? '' : `; client retries: ${retries}`),
  );
  expect(load.acknowledged).toBe(opts.events);
  expect(dead).toEqual([]);
  return { load, observed, atFault, inFlightAtFault };
}
