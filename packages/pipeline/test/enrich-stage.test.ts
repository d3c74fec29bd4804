import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus, type Bus } from '@throughline/bus';
import { EnrichedBatch, EventBatch, partitionOf, subjects, type Event } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { PartitionActor, sleep } from '@throughline/runtime';
import { ConfigSnapshot, createEnrichHandler, decodeEventBatch, positionOf } from '../src/index.js';

const PARTITIONS = 4;

/** Valid events of one partition. */
function eventsOf(partition: number, n: number): Event[] {
  return new LedgerWorkload({ accounts: 200, tenants: 2, seed: 5, idPrefix: 'en' })
    .take(400)
    .filter((e) => partitionOf(e.accountId, PARTITIONS) === partition)
    .slice(0, n);
}

async function until(cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('enrich stage', () => {
  let bus: Bus;
  afterEach(async () => {
    await bus?.close();
  });

  it('dead-letters each event that fails ingest’s checks alone, with its reason, and enriches the rest in order', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
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
      EventBatch.encode({ batchId: 'b1', partition, acceptedAtMs: 1_700_000_000_000n, events }).finish(),
      { msgId: 'b1' },
    );
    const actor = new PartitionActor<EventBatch>({
      name: 'enrich',
      partition,
      bus,
      openMailbox: () => bus.openMailbox({ group: 'enrich', topic: 'ingested', partition }),
      decode: decodeEventBatch,
      handle: createEnrichHandler({
        bus,
        partition,
        partitionCount: PARTITIONS,
        epoch: 1,
        snapshot: () => new ConfigSnapshot([]),
      }),
      pollWaitMs: 20,
    });
    void actor.run();
    const out = await bus.openMailbox({ group: 'check', topic: 'enriched', partition });
    const [msg] = await out.next({ maxMessages: 1, maxWaitMs: 5000 });
    await until(
      async () => (await bus.backlog({ group: 'enrich', topic: 'ingested', partition })).ackPending === 0,
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
});
