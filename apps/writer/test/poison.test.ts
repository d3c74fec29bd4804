/**
 * A result PostgreSQL refuses for its own content (a data exception) is dead-lettered alone: the other results of
 * its batch, and the batches around it, are committed in order. The writer's actor as the service wires it (the
 * stage table's decode and split, group commit over the PostgreSQL sink), on a real NATS JetStream and PostgreSQL.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectJetStreamBus, type Bus } from '@throughline/bus';
import { Direction, Outcome, ResultBatch, subjects, type Result } from '@throughline/contracts';
import { createGroupCommitSink, createWriterProcessor, STAGES } from '@throughline/pipeline';
import { PartitionActor } from '@throughline/runtime';
import { createPostgresSink, migrate } from '@throughline/stores';
import {
  startNats,
  startPostgres,
  waitFor,
  type NatsHandle,
  type PostgresHandle,
} from '@throughline/testkit';

const PARTITION = 2;
let nats: NatsHandle;
let postgres: PostgresHandle;
let pool: pg.Pool;
let bus: Bus;

beforeAll(async () => {
  [nats, postgres] = await Promise.all([startNats(), startPostgres()]);
  pool = new pg.Pool({ connectionString: await postgres.createDatabase(), max: 4 });
  // An idle connection ended by the server's stop at the end is not an error of the test.
  pool.on('error', () => undefined);
  await migrate(pool);
  bus = await connectJetStreamBus({ servers: nats.url, name: 'writer-poison-test' });
  await bus.ensureTopology();
}, 60_000);
afterAll(async () => {
  await bus?.close();
  await pool?.end();
  await Promise.all([nats?.stop(), postgres?.stop()]);
});

/** Credits of 100 on one account, balances running; `bad` positions carry an event id PostgreSQL cannot store. */
function results(positions: number[], bad: ReadonlySet<number>): Result[] {
  return positions.map((p) => ({
    eventId: bad.has(p) ? `wp-ev-${p}\u0000` : `wp-ev-${p}`,
    accountId: 'wp-acc',
    tenantId: 'tenant-1',
    position: BigInt(p),
    outcome: Outcome.OUTCOME_APPLIED,
    rejectReason: '',
    deltaMinor: 100n,
    feeMinor: 0n,
    balanceAfterMinor: BigInt(100 * p),
    configVersion: 1n,
    direction: Direction.DIRECTION_CREDIT,
    amountMinor: 100n,
    currency: 'EUR',
    occurredAtMs: 1_700_000_000_000n + BigInt(p),
    acceptedAtMs: 1_700_000_000_500n + BigInt(p),
    debitsDay: 19675,
    debitsDayMinor: 0n,
  }));
}

describe('the writer and poison', () => {
  it('dead-letters only the result PostgreSQL refuses; the rest of its batch and the batches around it are committed in order', async () => {
    const bad = new Set([4, 8]);
    const batches = [[1, 2], [3, 4, 5], [6], [7, 8]];
    const seqs: number[] = [];
    for (const [i, positions] of batches.entries()) {
      const data = ResultBatch.encode({
        batchId: `wp-${i}`,
        partition: PARTITION,
        producerEpoch: 1n,
        results: results(positions, bad),
      }).finish();
      seqs.push((await bus.publish(subjects.of('applied', PARTITION), data, { msgId: `wp-${i}` })).seq);
    }
    const sink = createGroupCommitSink(createPostgresSink(pool));
    const processor = createWriterProcessor({ partition: PARTITION, epoch: 1, sink });
    const spec = STAGES.writer;
    const actor = new PartitionActor<ResultBatch>({
      name: spec.name,
      partition: PARTITION,
      bus,
      openMailbox: () => bus.openMailbox({ group: spec.name, topic: spec.consumes, partition: PARTITION }),
      decode: spec.decode,
      split: spec.split,
      claim: () => processor.claim(),
      handle: (turn, ctx) => processor.handle(turn, ctx),
      pollWaitMs: 50,
      retryInitialMs: 5,
    });
    void actor.run();
    try {
      await waitFor(
        async () => {
          const backlog = await bus.backlog({ group: spec.name, topic: spec.consumes, partition: PARTITION });
          return backlog.pending === 0 && backlog.ackPending === 0;
        },
        { timeoutMs: 30_000, intervalMs: 50, message: 'the writer did not get through its batches' },
      );
    } finally {
      await actor.stop();
    }
    const { rows } = await pool.query<{ event_id: string }>(
      "SELECT event_id FROM ledger WHERE account_id = 'wp-acc' ORDER BY position",
    );
    expect(rows.map((r) => r.event_id)).toEqual([
      'wp-ev-1',
      'wp-ev-2',
      'wp-ev-3',
      'wp-ev-5',
      'wp-ev-6',
      'wp-ev-7',
    ]);
    const dead = await bus.readDeadLetters({ topic: 'applied' });
    expect(dead.map((d) => [d.originalSeq, d.part])).toEqual([
      [seqs[1], 1],
      [seqs[3], 1],
    ]);
    for (const [i, letter] of dead.entries()) {
      // The dead letter holds the result alone, and says which dependency refused it and why.
      const only = ResultBatch.decode(letter.data);
      expect(only.results.map((r) => r.position)).toEqual([[4n], [8n]][i]);
      expect(only.producerEpoch).toBe(1n);
      expect(letter.reason).toMatch(/^writer: data_exception: /);
    }
  });
});
