import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryBus, type Bus } from '@throughline/bus';
import { EventBatch, partitionOf, type Event } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { IngestPublisher, isResourceExhaustedError } from '../src/index.js';
import { memoryBus } from './support.js';

async function drain(bus: Bus, partitions: number): Promise<Map<number, EventBatch[]>> {
  const out = new Map<number, EventBatch[]>();
  for (let p = 0; p < partitions; p++) {
    const mailbox = await bus.openMailbox({ group: 'probe', topic: 'ingested', partition: p });
    const batches: EventBatch[] = [];
    for (;;) {
      const msgs = await mailbox.next({ maxMessages: 1000, maxWaitMs: 10 });
      if (msgs.length === 0) break;
      for (const m of msgs) {
        batches.push(EventBatch.decode(m.data));
        await m.ack();
      }
    }
    await mailbox.close();
    out.set(p, batches);
  }
  return out;
}

describe('IngestPublisher', () => {
  it('partitions by account, batches by size and linger, keeps each partition in order', async () => {
    const bus = await memoryBus();
    const publisher = new IngestPublisher({ bus, partitionCount: 4, maxBatchEvents: 100, lingerMs: 2 });
    const events = new LedgerWorkload({ accounts: 50, seed: 3 }).take(1050);
    await Promise.all([publisher.publish(events.slice(0, 500)), publisher.publish(events.slice(500))]);
    expect(publisher.inFlightEvents).toBe(0);
    const batches = await drain(bus, 4);
    let total = 0;
    for (const [p, list] of batches) {
      const got = list.flatMap((b) => b.events);
      total += got.length;
      for (const e of got) expect(partitionOf(e.accountId, 4)).toBe(p);
      expect(got.map((e) => e.eventId)).toEqual(
        events.filter((e) => partitionOf(e.accountId, 4) === p).map((e) => e.eventId),
      );
      for (const b of list) {
        expect(b.events.length).toBeLessThanOrEqual(100);
        expect(b.partition).toBe(p);
      }
    }
    expect(total).toBe(1050);
  });

  it("stamps a batch with its first event's arrival, so the linger counts as ingest-to-commit latency", async () => {
    const bus = await memoryBus();
    let clock = 1_000_000;
    const publisher = new IngestPublisher({
      bus,
      partitionCount: 1,
      maxBatchEvents: 1000,
      lingerMs: 30,
      now: () => clock,
    });
    const events = new LedgerWorkload({ accounts: 5, seed: 5 }).take(20);
    const first = publisher.publish(events.slice(0, 10));
    clock += 25; // the second request joins the same batch 25 ms later, before the linger ends
    const second = publisher.publish(events.slice(10));
    await Promise.all([first, second]);
    const [batch, ...rest] = (await drain(bus, 1)).get(0)!;
    expect(rest).toEqual([]);
    expect(batch!.events).toHaveLength(20);
    expect(batch!.acceptedAtMs).toBe(1_000_000n);
  });

  it('gives a batch a deterministic id, so the same batch published twice is stored once', async () => {
    const bus = await memoryBus();
    const events: Event[] = new LedgerWorkload({ accounts: 1, seed: 4 }).take(10);
    const publisher = new IngestPublisher({ bus, partitionCount: 1, maxBatchEvents: 10 });
    await publisher.publish(events);
    await publisher.publish(events);
    const batches = (await drain(bus, 1)).get(0)!;
    expect(batches).toHaveLength(1);
    // The id must not change between versions (a rolling upgrade re-publishes under the old one): the SHA-1 of
    // each event id followed by a newline.
    const sha1 = createHash('sha1');
    for (const e of events) sha1.update(e.eventId).update('\n');
    expect(batches[0]!.batchId).toBe(`ing-0-${sha1.digest('base64url')}`);
  });

  it('refuses work over its in-flight bound with RESOURCE_EXHAUSTED and a retry hint', async () => {
    const bus = await memoryBus();
    const publisher = new IngestPublisher({
      bus,
      partitionCount: 2,
      maxInFlightEvents: 100,
      lingerMs: 50,
      retryAfterMs: 123,
    });
    const workload = new LedgerWorkload({ seed: 5 });
    const first = publisher.publish(workload.take(80));
    const err = await publisher.publish(workload.take(30)).catch((e: unknown) => e);
    expect(isResourceExhaustedError(err)).toBe(true);
    expect((err as { retryAfterMs: number }).retryAfterMs).toBe(123);
    expect((err as Error).message).toMatch(/80 events in flight \(limit 100\)/);
    expect(publisher.refusedCalls).toBe(1);
    await first;
    await expect(publisher.publish(workload.take(30))).resolves.toBeUndefined();
    expect(publisher.refusedCalls).toBe(1);
  });

  it('bounds the bytes in flight too, letting one request over the bound through when alone', async () => {
    const bus = await memoryBus();
    const publisher = new IngestPublisher({ bus, partitionCount: 2, maxInFlightBytes: 10_000, lingerMs: 50 });
    const workload = new LedgerWorkload({ seed: 7 });
    const first = publisher.publish(workload.take(7), 7_001);
    expect(publisher.inFlightBytes).toBe(7_007); // 1,001 bytes for each of its 7 events
    const err = await publisher.publish(workload.take(3), 3_000).catch((e: unknown) => e);
    expect(isResourceExhaustedError(err)).toBe(true);
    expect((err as Error).message).toMatch(/7007 bytes in flight \(limit 10000\)/);
    await first;
    expect(publisher.inFlightBytes).toBe(0);
    await expect(publisher.publish(workload.take(2), 50_000)).resolves.toBeUndefined();
    expect(publisher.inFlightBytes).toBe(0);
    expect(publisher.refusedCalls).toBe(1);
  });

  it('fails the request when the stream refuses the publish, and flushes on close', async () => {
    const bus = await memoryBus();
    const publisher = new IngestPublisher({ bus, partitionCount: 2, lingerMs: 10_000 });
    const pending = publisher.publish(new LedgerWorkload({ seed: 6 }).take(5));
    await publisher.close();
    await expect(pending).resolves.toBeUndefined();
    await expect(publisher.publish(new LedgerWorkload({ seed: 6 }).take(1))).rejects.toThrow(/shutting down/);
    const closed = createMemoryBus();
    await closed.ensureTopology();
    const failing = new IngestPublisher({ bus: closed, partitionCount: 1, lingerMs: 1 });
    await closed.close();
    await expect(failing.publish(new LedgerWorkload({ seed: 7 }).take(1))).rejects.toThrow(
      /publishing to the stream failed/,
    );
  });
});

describe('message size', () => {
  it('splits a batch that would encode larger than maxMessageBytes, keeping order', async () => {
    const bus = await memoryBus();
    const publisher = new IngestPublisher({
      bus,
      partitionCount: 1,
      maxBatchEvents: 1000,
      maxMessageBytes: 4000,
      lingerMs: 1,
    });
    const events = new LedgerWorkload({ accounts: 3, seed: 9 })
      .take(300)
      .map((e) => ({ ...e, attributes: { note: 'x'.repeat(100) } }));
    await publisher.publish(events);
    const batches = (await drain(bus, 1)).get(0)!;
    expect(batches.length).toBeGreaterThan(5);
    expect(batches.flatMap((b) => b.events.map((e) => e.eventId))).toEqual(events.map((e) => e.eventId));
    await bus.close();
  });

  it('encodeChunks halves a chunk that is too large and names chunks deterministically', async () => {
    const { encodeChunks } = await import('../src/index.js');
    const items = Array.from({ length: 10 }, (_, i) => 'y'.repeat(100) + i);
    const encode = (xs: string[]) => new TextEncoder().encode(xs.join(','));
    const chunks = encodeChunks({
      idPrefix: 'p',
      firstSeq: 3,
      lastSeq: 9,
      items,
      maxItems: 8,
      maxBytes: 450,
      encode,
    });
    expect(chunks.map((c) => c.batchId)).toEqual(['p:3-9:0', 'p:3-9:1', 'p:3-9:2']); // 8 items → 4 + 4, then 2
    expect(chunks.every((c) => c.data.length <= 450)).toBe(true);
    expect(chunks.map((c) => new TextDecoder().decode(c.data)).join(',')).toBe(items.join(','));
  });
});
