/**
 * The fault suite, long: a paced load runs for minutes while faults follow one another — a service killed
 * (kill -9) and restarted, Redis refusing writes (out of memory), PostgreSQL read only, NATS, Redis and PostgreSQL
 * each killed and restarted — and the run ends with every event sent in exactly one ledger row, the ledger verified
 * and no dead letter. Reported per fault: how long it lasted and how long the pipeline took, once it was healed, to
 * commit its next `RECOVERED_AFTER` events.
 */
import { Redis } from 'ioredis';
import { connectJetStreamBus, type Bus } from '@throughline/bus';
import type { Event } from '@throughline/contracts';
import type { StageApp } from '@throughline/stack';
import { runPipeline, type PipelineRow } from '../pipeline-run.js';
import type { Sizes } from '../sizes.js';
import type { PipelineStack, Servers } from '../stack.js';

export const SOAK_FAULTS = [
  'service-kill',
  'redis-oom',
  'postgres-read-only',
  'nats-kill',
  'redis-kill',
  'postgres-kill',
] as const;
export type SoakFaultName = (typeof SOAK_FAULTS)[number];

/** Events committed after a fault was healed that count as "going again". */
const RECOVERED_AFTER = 2_000;
/** Partitions of the soak's runs (runPipeline's default). */
const PARTITIONS = 8;

/** Instances the soak runs with: a stage whose instance is killed still has another to take its partitions. */
const INSTANCES: Record<StageApp, number> = { enrich: 1, state: 2, writer: 2 };
/** Which service the n-th `service-kill` kills. */
const KILL_ORDER = ['state-0', 'writer-1', 'enrich', 'state-1', 'writer-0'];

export interface SoakFault {
  name: SoakFaultName;
  /** What was killed, for `service-kill`. */
  target?: string;
  /** When it began, ms after the run started. */
  atMs: number;
  /** Ledger rows when it began. */
  committedAt: number;
  /** How long it lasted (applied to healed). */
  lastedMs: number;
  /** From healed until `RECOVERED_AFTER` more events were committed; `null` if that never came. */
  recoveredMs: number | null;
}

export interface SoakReport {
  row: PipelineRow;
  faults: SoakFault[];
  /** Dead letters at the end (every fault here is a dependency's, not poison: 0 is the only right answer). */
  deadLetters: number;
  /** Every event sent committed exactly once, the ledger verified, no dead letter. */
  ok: boolean;
  /**
   * When not every event was committed once the faults were over and `settleMs` had passed: what each stage still
   * holds, partition by partition (`state (enriched): p2 103 pending/3 unacked`), to tell a stall from a loss.
   */
  held?: string;
}

export interface SoakOptions {
  /** The faults, in this order, over and over. Default `SOAK_FAULTS`. */
  faults?: readonly SoakFaultName[];
  onRow?: (row: PipelineRow) => void;
  onFault?: (fault: SoakFault) => void;
  /** How long the run may take, after the last fault, to commit every event sent, ms. Default 300,000. */
  settleMs?: number;
}

/** What each stage's consumers still hold, for the partitions that hold anything. */
async function heldBy(bus: Bus, partitions: number): Promise<string> {
  const lines: string[] = [];
  for (const [group, topic] of [
    ['enrich', 'ingested'],
    ['state', 'enriched'],
    ['writer', 'applied'],
  ] as const) {
    const held: string[] = [];
    for (let p = 0; p < partitions; p++) {
      const b = await bus.backlog({ group, topic, partition: p });
      if (b.pending > 0 || b.ackPending > 0) held.push(`p${p} ${b.pending} pending/${b.ackPending} unacked`);
    }
    lines.push(`${group} (${topic}): ${held.length === 0 ? 'nothing held' : held.join(', ')}`);
  }
  return lines.join('; ');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function ledgerRows(stack: PipelineStack): Promise<number> {
  const { rows } = await stack.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger');
  return Number(rows[0]?.n ?? 0);
}

/** `query`, again while PostgreSQL restarts (a killed server refuses connections for a moment). */
async function patiently(stack: PipelineStack, sql: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await stack.pool.query(sql);
      return;
    } catch (err) {
      if (attempt >= 60) throw err;
      await sleep(500);
    }
  }
}

/** Applies `name`, holds it `holdMs`, heals it; returns what it killed, if anything. */
async function inject(
  name: SoakFaultName,
  stack: PipelineStack,
  servers: Servers,
  holdMs: number,
  kills: number,
): Promise<string | undefined> {
  const handles = servers.handles;
  if (handles === undefined) throw new Error('the soak needs the servers it may kill (startServers)');
  switch (name) {
    case 'service-kill': {
      const target = KILL_ORDER[kills % KILL_ORDER.length]!;
      const service = stack.services.get(target);
      if (service === undefined) throw new Error(`no service ${target}`);
      await service.kill('SIGKILL');
      await sleep(holdMs);
      await service.restart();
      return target;
    }
    case 'redis-oom': {
      const redis = new Redis(servers.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
      try {
        await redis.config('SET', 'maxmemory-policy', 'noeviction');
        await redis.config('SET', 'maxmemory', '1');
        await sleep(holdMs);
        await redis.config('SET', 'maxmemory', '0');
      } finally {
        redis.disconnect();
      }
      return undefined;
    }
    case 'postgres-read-only':
      await patiently(stack, 'ALTER SYSTEM SET default_transaction_read_only = on');
      await patiently(stack, 'SELECT pg_reload_conf()');
      await sleep(holdMs);
      await patiently(stack, 'ALTER SYSTEM RESET default_transaction_read_only');
      await patiently(stack, 'SELECT pg_reload_conf()');
      return undefined;
    case 'nats-kill':
    case 'redis-kill':
    case 'postgres-kill': {
      const server = handles[name.slice(0, name.indexOf('-')) as keyof typeof handles];
      await server.kill();
      await sleep(holdMs);
      await server.restart();
      return undefined;
    }
  }
}

export async function runSoak(sizes: Sizes, events: Event[], opts: SoakOptions = {}): Promise<SoakReport> {
  const { perSecond, faultEveryMs, holdMs } = sizes.soak;
  const order = opts.faults ?? SOAK_FAULTS;
  const faults: SoakFault[] = [];
  let deadLetters = 0;
  let held: string | undefined;
  const during = async (stack: PipelineStack, sent: () => number, servers: Servers): Promise<void> => {
    const started = performance.now();
    // The last fault begins while a tenth of the events is still to be sent, so it lands under load.
    for (let n = 0; sent() < events.length * 0.9; n++) {
      await sleep(faultEveryMs);
      if (sent() >= events.length * 0.9) break;
      const name = order[n % order.length]!;
      const committedAt = await ledgerRows(stack);
      const atMs = performance.now() - started;
      const kills = faults.filter((f) => f.name === 'service-kill').length;
      const target = await inject(name, stack, servers, holdMs, kills);
      const healedAt = performance.now();
      const lastedMs = healedAt - started - atMs;
      let recoveredMs: number | null = null;
      const base = await ledgerRows(stack).catch(() => committedAt);
      while (performance.now() - healedAt < 120_000) {
        const rows = await ledgerRows(stack).catch(() => 0);
        if (rows >= Math.min(base + RECOVERED_AFTER, events.length)) {
          recoveredMs = performance.now() - healedAt;
          break;
        }
        await sleep(100);
      }
      const fault: SoakFault = {
        name,
        ...(target === undefined ? {} : { target }),
        atMs: Math.round(atMs),
        committedAt,
        lastedMs: Math.round(lastedMs),
        recoveredMs: recoveredMs === null ? null : Math.round(recoveredMs),
      };
      faults.push(fault);
      opts.onFault?.(fault);
    }
    // Dead letters are read once everything sent is committed (or the run's time box is near).
    const deadline = performance.now() + (opts.settleMs ?? 300_000);
    while ((await ledgerRows(stack).catch(() => 0)) < events.length && performance.now() < deadline)
      await sleep(500);
    const bus = await connectJetStreamBus({ servers: servers.natsUrl, name: 'soak' });
    try {
      deadLetters = (await bus.readDeadLetters({ limit: 100_000 })).length;
      if ((await ledgerRows(stack).catch(() => 0)) < events.length) held = await heldBy(bus, PARTITIONS);
    } finally {
      await bus.close();
    }
  };
  const row = await runPipeline(
    {
      label: `soak: ${events.length} events at ${perSecond}/s, a fault every ${faultEveryMs / 1000} s`,
      env: { PIPELINE_MODE: 'optimized' },
      events: events.length,
      timeBoxMs: (events.length / perSecond) * 1000 + (opts.settleMs ?? 300_000),
      instances: INSTANCES,
      verify: true,
      partitions: PARTITIONS,
      paceEventsPerSecond: perSecond,
      during,
    },
    events,
  );
  opts.onRow?.(row);
  return {
    row,
    faults,
    deadLetters,
    ok: row.committed === events.length && row.verified === true && deadLetters === 0 && !row.timedOut,
    ...(held === undefined ? {} : { held }),
  };
}
