/**
 * The enrich handler on the in-memory bus: one configuration snapshot per turn, output under the instance's lease
 * epoch in messages of a bounded size whose ids a replay repeats, and events that can never be processed
 * dead-lettered alone.
 */
import { describe, expect, it } from 'vitest';
import type { BusMessage } from '@throughline/bus';
import { EnrichedBatch, EventBatch, partitionOf, subjects, type Event } from '@throughline/contracts';
import { appliedConfigOf, LedgerWorkload } from '@throughline/ledger';
import { PartitionActor, type Envelope } from '@throughline/runtime';
import {
  ConfigSnapshot,
  createEnrichHandler,
  decodeEventBatch,
  PipelineErrorCode,
  positionOf,
  type EnrichStageOptions,
} from '../src/index.js';
import { memoryBus, tenant, until } from './support.js';

const PARTITIONS = 4;

/** Valid events of one partition. */
function eventsOf(partition: number, n: number): Event[] {
  return new LedgerWorkload({ accounts: 200, tenants: 2, seed: 5, idPrefix: 'en' })
    .take(400)
    .filter((e) => partitionOf(e.accountId, PARTITIONS) === partition)
    .slice(0, n);
}

/** A turn's message at stream sequence `seq`, as the enrich stage's actor hands it over. */
function envelope(seq: number, events: Event[]): Envelope<EventBatch> {
  const value: EventBatch = {
    batchId: `i${seq}`,
    partition: 1,
    acceptedAtMs: 1_700_000_000_000n,
    events,
    redrivenFrom: [],
  };
  return { value, msg: { seq, deliveryCount: 1, publishedAtMs: 0 } as BusMessage };
}

/** Every tenant of the workload, with fees of `feeBps`, at `version`. */
function configs(version: bigint, feeBps: number): ConfigSnapshot {
  return new ConfigSnapshot(
    ['tenant-1', 'tenant-2'].map((id) => ({ ...tenant(id, feeBps), version, updatedAtMs: 0n })),
  );
}

/** The enrich handler of partition 1 on a bus of its own, and what it published there. */
async function enrichOn(opts: Omit<EnrichStageOptions, 'bus' | 'partition' | 'partitionCount'>) {
  const bus = await memoryBus();
  const handle = createEnrichHandler({ ...opts, bus, partition: 1, partitionCount: PARTITIONS });
  /** The enriched batches published since the last call, as the state stage takes them. */
  const enriched = async (): Promise<EnrichedBatch[]> => {
    const out = await bus.openMailbox({ group: 'state', topic: 'enriched', partition: 1 });
    const msgs = await out.next({ maxMessages: 100, maxWaitMs: 50 });
    for (const m of msgs) await m.ack();
    await out.close();
    return msgs.map((m) => EnrichedBatch.decode(m.data));
  };
  return { bus, handle, enriched };
}

describe('enrich stage', () => {
  it('dead-letters each event that fails ingest’s checks alone, with its reason, and enriches the rest in order', async () => {
    const { bus, handle } = await enrichOn({ epoch: 1, snapshot: () => new ConfigSnapshot([]) });
    const partition = 1;
    const good = eventsOf(partition, 4);
    const foreign = eventsOf(2, 1)[0]!;
    const events: Event[] = [
      good[0]!,
      { ...good[1]!, eventId: 'bad-amount', amountMinor: 0n },
      good[2]!,
      { ...foreign, eventId: 'bad-partition' },
      good[3]!,
    ];
    const { seq } = await bus.publish(
      subjects.of('ingested', partition),
      EventBatch.encode({
        batchId: 'b1',
        partition,
        acceptedAtMs: 1_700_000_000_000n,
        events,
        redrivenFrom: [],
      }).finish(),
      { msgId: 'b1' },
    );
    const actor = new PartitionActor<EventBatch>({
      name: 'enrich',
      partition,
      bus,
      openMailbox: () => bus.openMailbox({ group: 'enrich', topic: 'ingested', partition }),
      decode: decodeEventBatch,
      handle,
      pollWaitMs: 20,
    });
    void actor.run();
    const out = await bus.openMailbox({ group: 'check', topic: 'enriched', partition });
    const [msg] = await out.next({ maxMessages: 1, maxWaitMs: 5000 });
    await until(
      async () => (await bus.backlog({ group: 'enrich', topic: 'ingested', partition })).ackPending === 0,
      'the turn acknowledged',
    );
    await actor.stop();
    await out.close();

    const enriched = EnrichedBatch.decode(msg!.data).events;
    expect(enriched.map((e) => e.event!.eventId)).toEqual([0, 2, 4].map((i) => events[i]!.eventId));
    // Positions are those of the ingested message: a skipped event leaves its index unused.
    expect(enriched.map((e) => e.position)).toEqual([0, 2, 4].map((i) => positionOf(seq, i)));
    const dead = await bus.readDeadLetters({ topic: 'ingested' });
    expect(dead.map((d) => [d.part, d.reason])).toEqual([
      [1, 'enrich: event "bad-amount": events[1].amount_minor: must be positive, got 0'],
      [3, `enrich: event "bad-partition": events[3].account_id: belongs to partition 2, published to 1`],
    ]);
    expect(EventBatch.decode(dead[0]!.data).events).toEqual([events[1]]);
    expect(dead.every((d) => d.originalSeq === seq)).toBe(true);
  });

  it('enriches a turn with one snapshot, whose version its output carries, under its lease epoch', async () => {
    let snapshot = configs(3n, 25);
    let reads = 0;
    const { handle, enriched } = await enrichOn({ epoch: 4, snapshot: () => (reads++, snapshot) });
    const events = eventsOf(1, 4);
    await handle([envelope(10, events.slice(0, 2)), envelope(11, events.slice(2))]);
    snapshot = configs(5n, 50);
    await handle([envelope(12, events.slice(0, 1))]);
    expect(reads).toBe(2);

    const [first, second] = await enriched();
    expect([first!.configVersion, first!.producerEpoch, second!.configVersion]).toEqual([3n, 4n, 5n]);
    expect(first!.events.map((e) => [e.event!.eventId, e.position])).toEqual([
      [events[0]!.eventId, positionOf(10, 0)],
      [events[1]!.eventId, positionOf(10, 1)],
      [events[2]!.eventId, positionOf(11, 0)],
      [events[3]!.eventId, positionOf(11, 1)],
    ]);
    for (const e of first!.events)
      expect(e.config).toEqual(appliedConfigOf(configs(3n, 25).get(e.event!.tenantId)));
    expect(second!.events[0]!.config?.feeBps).toBe(50);
  });

  it('publishes a turn in messages of at most maxOutputEvents, which a replay of the turn repeats', async () => {
    const { handle, enriched } = await enrichOn({
      epoch: 2,
      snapshot: () => configs(1n, 0),
      maxOutputEvents: 2,
    });
    const events = eventsOf(1, 5);
    const turn = [envelope(7, events.slice(0, 3)), envelope(8, events.slice(3))];
    await handle(turn);
    await handle(turn);
    const batches = await enriched();
    expect(batches.map((b) => [b.batchId, b.events.length])).toEqual([
      ['enr-1-e2:7-8:0', 2],
      ['enr-1-e2:7-8:1', 2],
      ['enr-1-e2:7-8:2', 1],
    ]);
  });

  it('fails a turn with an event that can never be processed as poison, when it has no actor to dead-letter it', async () => {
    const { handle, enriched } = await enrichOn({ epoch: 1, snapshot: () => configs(1n, 0) });
    const [event] = eventsOf(1, 1);
    await expect(handle([envelope(1, [{ ...event!, currency: 'euro' }])])).rejects.toMatchObject({
      code: PipelineErrorCode.poison,
    });
    expect(await enriched()).toEqual([]);
  });
});
