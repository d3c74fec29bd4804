/**
 * The peer: the same ledger workload built the way a TypeScript team would with BullMQ today — a queue per stage
 * (enrich → state → writer), workers with a concurrency, one job per event, the same PostgreSQL writes (one
 * idempotent ledger INSERT and one forward-only balance upsert per event, as the naive writer does).
 *
 * Fairness: tenant configuration is loaded into memory once (no per-job config call); the producer and every
 * stage hand jobs on with `addBulk` (BullMQ's batching; open-source BullMQ has no batch consumption); account state
 * lives in Redis with per-key ordering kept in the worker process (jobs start in queue order, one account's jobs
 * are chained), so the result is correct; finished jobs are removed at once (`removeOnComplete`).
 */
import { Queue, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { Direction, type Event } from '@throughline/contracts';
import { selfCpuSeconds, treeCpuSeconds } from '../cpu.js';
import { startServers } from '../stack.js';

export interface PeerRow {
  label: string;
  events: number;
  committed: number;
  seconds: number;
  eventsPerSecond: number;
  cpuSecondsPer1k: number;
  timedOut: boolean;
}

interface Tx {
  id: string;
  account: string;
  tenant: string;
  debit: boolean;
  amount: number;
  acceptedAtMs: number;
}

const CREATE_SQL = `
CREATE TABLE ledger (event_id text PRIMARY KEY, account_id text NOT NULL, tenant_id text NOT NULL,
  outcome text NOT NULL, delta_minor bigint NOT NULL, fee_minor bigint NOT NULL, balance_after_minor bigint NOT NULL,
  accepted_at timestamptz NOT NULL, committed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE balances (account_id text PRIMARY KEY, balance_minor bigint NOT NULL, seq bigint NOT NULL)`;
const INSERT_SQL = `WITH ins AS (
  INSERT INTO ledger (event_id, account_id, tenant_id, outcome, delta_minor, fee_minor, balance_after_minor, accepted_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp($8::float8 / 1000)) ON CONFLICT (event_id) DO NOTHING RETURNING 1)
INSERT INTO balances AS b (account_id, balance_minor, seq) VALUES ($2, $7, $9)
ON CONFLICT (account_id) DO UPDATE SET balance_minor = EXCLUDED.balance_minor, seq = EXCLUDED.seq WHERE b.seq < EXCLUDED.seq`;

const FEE_BPS = 10;
const OVERDRAFT = 50_000;

/** Runs `work` after every earlier job of the same key has finished. */
function keyedChain() {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const prev = tails.get(key) ?? Promise.resolve();
    const next = prev.then(work, work);
    tails.set(key, next);
    // The caller handles `next`'s failure; this bookkeeping branch must not leave an unhandled rejection.
    next
      .finally(() => {
        if (tails.get(key) === next) tails.delete(key);
      })
      .catch(() => undefined);
    return next;
  };
}

export async function runPeer(
  events: Event[],
  opts: { concurrency: number; timeBoxMs: number },
): Promise<PeerRow> {
  const servers = await startServers();
  const connection = { url: servers.redisUrl, maxRetriesPerRequest: null };
  const redis = new Redis(servers.redisUrl);
  const pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 10 });
  // An idle connection dies when the run stops its PostgreSQL: expected, not a failure.
  pool.on('error', () => undefined);
  const queue = (name: string) =>
    new Queue(name, { connection, defaultJobOptions: { removeOnComplete: true, removeOnFail: 1000 } });
  const enrichQ = queue('enrich');
  const stateQ = queue('state');
  const writerQ = queue('writer');
  const workers: Worker[] = [];
  try {
    await pool.query(CREATE_SQL);
    const chain = keyedChain();
    let seq = 0;
    workers.push(
      new Worker(
        'enrich',
        async (job: Job<Tx>) => {
          // Config in memory: the fee of the tenant (a fair team loads it once).
          const fee = Math.floor((job.data.amount * FEE_BPS) / 10_000);
          await stateQ.add('s', { ...job.data, fee });
        },
        { connection, concurrency: opts.concurrency },
      ),
      new Worker(
        'state',
        (job: Job<Tx & { fee: number }>) => {
          const order = ++seq;
          return chain(job.data.account, async () => {
            const key = `acct:${job.data.account}`;
            const balance = Number((await redis.get(key)) ?? 0);
            const delta = job.data.debit ? -(job.data.amount + job.data.fee) : job.data.amount;
            const applied = balance + delta >= -OVERDRAFT;
            const after = applied ? balance + delta : balance;
            if (applied) await redis.set(key, String(after));
            await writerQ.add('w', { ...job.data, applied, delta: applied ? delta : 0, after, order });
          });
        },
        { connection, concurrency: opts.concurrency },
      ),
      new Worker(
        'writer',
        async (
          job: Job<Tx & { fee: number; applied: boolean; delta: number; after: number; order: number }>,
        ) => {
          const d = job.data;
          await pool.query(INSERT_SQL, [
            d.id,
            d.account,
            d.tenant,
            d.applied ? 'APPLIED' : 'REJECTED',
            d.delta,
            d.fee,
            d.after,
            d.acceptedAtMs,
            d.order,
          ]);
        },
        { connection, concurrency: opts.concurrency },
      ),
    );
    const cpuBefore = treeCpuSeconds(servers.pids) + selfCpuSeconds();
    const started = performance.now();
    for (let i = 0; i < events.length; i += 1000) {
      const now = Date.now();
      await enrichQ.addBulk(
        events.slice(i, i + 1000).map((e) => ({
          name: 'e',
          data: {
            id: e.eventId,
            account: e.accountId,
            tenant: e.tenantId,
            debit: e.direction === Direction.DIRECTION_DEBIT,
            amount: Number(e.amountMinor),
            acceptedAtMs: now,
          } satisfies Tx,
        })),
      );
    }
    let committed = 0;
    let timedOut = false;
    for (;;) {
      const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger');
      committed = Number(rows[0]?.n ?? 0);
      if (committed >= events.length) break;
      if (performance.now() - started > opts.timeBoxMs) {
        timedOut = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = treeCpuSeconds(servers.pids) + selfCpuSeconds() - cpuBefore;
    return {
      label: `BullMQ peer (3 queues, concurrency ${opts.concurrency})`,
      events: events.length,
      committed,
      seconds,
      eventsPerSecond: committed / seconds,
      cpuSecondsPer1k: committed > 0 ? (cpu * 1000) / committed : 0,
      timedOut,
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.close(true)));
    await Promise.allSettled([enrichQ.close(), stateQ.close(), writerQ.close()]);
    redis.disconnect();
    await pool.end();
    await servers.stop();
  }
}
