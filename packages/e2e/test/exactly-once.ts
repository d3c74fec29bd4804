/**
 * The accounting every fault test ends with: each acknowledged event has exactly one ledger row, `verify` finds
 * nothing wrong, the state stage's Redis state agrees with PostgreSQL account by account, and nothing was
 * dead-lettered (a fault is no poison).
 *
 * `ledger.event_id` is the primary key, so counting rows can only find losses, never doubles: a double effect
 * shows as a balance that is not the sum of its applied deltas (verify), or as Redis state ahead of PostgreSQL.
 */
import { Redis } from 'ioredis';
import { expect } from 'vitest';
import { readDeploymentId, stateKeyPrefixFor, stateKeys, verifyLedger } from '@throughline/stores';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { partitionOf, subjects, TOPICS } from '@throughline/contracts';
import { READY_LINE, readyPortsOf } from '@throughline/stack';
import { metricSum, scrapeMetrics } from './load.js';
import { ledgerCount, waitForIdle, waitForLedger, type Stack } from './stack.js';

export async function expectExactlyOnce(
  stack: Stack,
  acknowledgedIds: readonly string[],
  opts: RedisCheck = {},
): Promise<void> {
  try {
    await waitForLedger(stack.pool, acknowledgedIds.length);
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\n${await describeShortfall(stack, acknowledgedIds, opts.accounts)}`,
      {
        cause: err,
      },
    );
  }
  await waitForIdle(stack);
  expect(await ledgerCount(stack.pool)).toBe(acknowledgedIds.length);
  const report = await verifyLedger(stack.pool, { expectedEventIds: [...acknowledgedIds] });
  expect(report.violations).toEqual([]);
  await expectRedisMatchesPostgres(stack, opts);
  if (opts.deadLettersAfter !== false) {
    const after = opts.deadLettersAfter ?? 0;
    const dead = (await stack.bus.readDeadLetters({ limit: 1_000 })).filter((l) => l.seq > after);
    expect(
      dead.map((l) => `${l.originalSubject}#${l.originalSeq}: ${l.reason}`),
      'dead letters of a run without poison',
    ).toEqual([]);
  }
}

/**
 * Where the events that did not reach the ledger are: how many are missing, what each stage's consumer of each
 * partition still holds, and the dead letters — what a failed accounting needs to be understood.
 */
export async function describeShortfall(
  stack: Stack,
  acknowledgedIds: readonly string[],
  accounts?: ReadonlyMap<string, string>,
): Promise<string> {
  const lines: string[] = [];
  try {
    const { rows } = await stack.pool.query<{ event_id: string }>(
      'SELECT a.event_id FROM unnest($1::text[]) AS a(event_id) LEFT JOIN ledger l USING (event_id) ' +
        'WHERE l.event_id IS NULL',
      [acknowledgedIds],
    );
    const first = rows.slice(0, 5).map((r) => r.event_id);
    lines.push(
      `missing: ${rows.length} of ${acknowledgedIds.length} acknowledged events` +
        (first.length > 0 ? ` (first: ${first.join(', ')})` : ''),
    );
    if (accounts !== undefined && rows.length > 0) {
      const byPartition = new Map<number, number>();
      for (const { event_id: id } of rows) {
        const account = accounts.get(id);
        if (account === undefined) continue;
        const p = partitionOf(account, stack.partitions);
        byPartition.set(p, (byPartition.get(p) ?? 0) + 1);
      }
      lines.push(
        `missing by partition: ${[...byPartition]
          .sort(([a], [b]) => a - b)
          .map(([p, n]) => `p${p} ${n}`)
          .join(', ')}`,
      );
    }
    const groups = [
      ['enrich', 'ingested'],
      ['state', 'enriched'],
      ['writer', 'applied'],
    ] as const;
    for (const [group, topic] of groups) {
      const held: string[] = [];
      for (let p = 0; p < stack.partitions; p++) {
        const b = await stack.bus.backlog({ group, topic, partition: p });
        if (b.pending > 0 || b.ackPending > 0)
          held.push(`p${p} ${b.pending} pending/${b.ackPending} unacked`);
      }
      lines.push(`${group} (${topic}): ${held.length === 0 ? 'nothing held' : held.join(', ')}`);
    }
    // What each topic stream still stores, by subject: a message in a stream but held by no consumer was skipped.
    const nc = await connect({ servers: stack.natsUrl.split(','), timeout: 5_000 });
    try {
      const jsm = await jetstreamManager(nc);
      for (const topic of TOPICS) {
        const info = await jsm.streams.info(subjects.stream(topic), { subjects_filter: '>' });
        const bySubject = Object.entries(info.state.subjects ?? {}).map(([subject, n]) => `${subject} ${n}`);
        lines.push(
          `stream ${info.config.name}: ${info.state.messages} messages, seq ${info.state.first_seq}..${info.state.last_seq}` +
            (bySubject.length > 0 ? ` (${bySubject.join(', ')})` : ''),
        );
      }
    } catch (err) {
      lines.push(`(could not read the streams: ${(err as Error).message})`);
    } finally {
      await nc.close();
    }
    const dead = await stack.bus.readDeadLetters({ limit: 20 });
    lines.push(
      `dead letters: ${dead.length}${dead.length > 0 ? ` (${dead.map((d) => d.reason).join('; ')})` : ''}`,
    );
  } catch (err) {
    lines.push(`(could not describe the shortfall: ${(err as Error).message})`);
  }
  return lines.join('\n');
}

export interface RedisCheck {
  /**
   * Redis lost its data during the run (restarted empty): an account may then be absent from it until its next
   * event rebuilds it from PostgreSQL. An account present must still match.
   */
  redisLost?: boolean;
  /** The account of each acknowledged event: a shortfall then says which partitions lost events. */
  accounts?: ReadonlyMap<string, string>;
  /**
   * Dead letters stored after this sequence of the dead-letter stream must be none. Default 0: none at all in the
   * stack's lifetime. `false` for a run with poison, whose caller checks the dead letters itself.
   */
  deadLettersAfter?: number | false;
}

/** Every account's state in Redis (balance and last position) equals its committed balance row. */
export async function expectRedisMatchesPostgres(stack: Stack, opts: RedisCheck = {}): Promise<void> {
  const keys = stateKeys(stateKeyPrefixFor(await readDeploymentId(stack.pool)));
  const { rows } = await stack.pool.query<{
    account_id: string;
    balance_minor: string;
    position: string;
    updated_ms: string;
  }>(
    'SELECT account_id, balance_minor::text, position::text, ' +
      'floor(extract(epoch FROM updated_at) * 1000)::int8::text AS updated_ms FROM balances ORDER BY account_id',
  );
  const redis = new Redis(stack.redis.url, stack.redisOptions);
  try {
    // A partition the state stage rebuilt from PostgreSQL (its store lost it, or rolled back: a new owner forgets
    // it) holds an account again only once an event of it came: an account last committed before the rebuild is
    // read from PostgreSQL until then. One committed after it went through the rebuilt store and must be there.
    const rebuiltAt = new Map<number, number>();
    for (let p = 0; p < stack.partitions; p++) {
      const recovered = await redis.hget(keys.marker(p), 'recovered');
      if (recovered !== null && recovered !== '') rebuiltAt.set(p, Number(recovered));
    }
    const mismatches: string[] = [];
    let compared = 0;
    for (let i = 0; i < rows.length; i += 1000) {
      const chunk = rows.slice(i, i + 1000);
      const values = await redis.mget(
        chunk.map((r) => keys.account(partitionOf(r.account_id, stack.partitions), r.account_id)),
      );
      chunk.forEach((r, j) => {
        const rebuilt = rebuiltAt.get(partitionOf(r.account_id, stack.partitions));
        if (
          values[j] === null &&
          (opts.redisLost || (rebuilt !== undefined && Number(r.updated_ms) < rebuilt))
        )
          return;
        compared++;
        const [balance, position] = (values[j] ?? '').split('|');
        if (balance !== r.balance_minor || position !== r.position)
          mismatches.push(
            `${r.account_id}: redis ${values[j] ?? 'none'}, postgres ${r.balance_minor}|${r.position}`,
          );
      });
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(compared).toBeGreaterThan(0);
  } finally {
    redis.disconnect();
  }
}

/**
 * The sum of a counter over the running instances of `app` (`state` is `state`, `state-0`, `state-1`, …), each
 * scraped at the port of its current run's ready line: a restarted instance serves on a new port and counts from 0.
 */
export async function serviceCounter(
  stack: Stack,
  app: string,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  let n = 0;
  for (const [service, process] of stack.services) {
    if ((service !== app && !service.startsWith(`${app}-`)) || process.pid === undefined) continue;
    const [line] = await process.waitForOutput(READY_LINE, { timeoutMs: 30_000 });
    n += metricSum(await scrapeMetrics(readyPortsOf(line)!.httpPort), name, labels);
  }
  return n;
}

/** Events the state stage recognised as applied before (a redelivery or a client retry), over its instances. */
export const stateDuplicates = (stack: Stack): Promise<number> =>
  serviceCounter(stack, 'state', 'tl_state_events_total', { tl_outcome: 'duplicate' });

/** Results whose ledger row was there already when the writer committed them (a redelivered batch), over its instances. */
export const writerDuplicateRows = (stack: Stack): Promise<number> =>
  serviceCounter(stack, 'writer', 'tl_writer_rows_total', { tl_outcome: 'duplicate' });
