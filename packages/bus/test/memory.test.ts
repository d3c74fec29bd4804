import { subjects } from '@throughline/contracts';
import { describe, expect, it } from 'vitest';
import { createMemoryBus, type BusSettings } from '../src/index.js';
import { runBusConformance } from './conformance.js';
import { runLeaseBucketConformance } from './lease-bucket-conformance.js';

const settings: BusSettings = { duplicateWindowMs: 1_000, ackWaitMs: 1_000, maxDeliver: 5, maxAckPending: 8 };

runBusConformance('memory', () => {
  const bus = createMemoryBus(settings);
  return Promise.resolve({ bus, settings, cleanup: () => bus.close() });
});

describe('memory bus clock', () => {
  it('uses the injected clock for timestamps, the duplicate window and ack deadlines', async () => {
    let now = 1_000_000;
    const bus = createMemoryBus({ ...settings, now: () => now });
    await bus.ensureTopology();
    const subject = subjects.of('applied', 0);
    const first = await bus.publish(subject, new Uint8Array([1]), { msgId: 'a' });
    expect((await bus.publish(subject, new Uint8Array([1]), { msgId: 'a' })).duplicate).toBe(true);
    now += settings.duplicateWindowMs!;
    const again = await bus.publish(subject, new Uint8Array([1]), { msgId: 'a' });
    expect(again).toMatchObject({ duplicate: false, seq: first.seq + 1 });

    const mailbox = await bus.openMailbox({ group: 'writer', topic: 'applied', partition: 0 });
    const [delivered] = await mailbox.next({ maxMessages: 1, maxWaitMs: 0 });
    expect(delivered!.publishedAtMs).toBe(1_000_000);
    expect(await mailbox.next({ maxMessages: 1, maxWaitMs: 0 })).toHaveLength(1);
    now += settings.ackWaitMs!;
    const [redelivered] = await mailbox.next({ maxMessages: 1, maxWaitMs: 0 });
    expect(redelivered).toMatchObject({ seq: delivered!.seq, deliveryCount: 2 });
    await bus.close();
  });

  it('keeps client credentials past the lease time to live, in a bucket of their own', async () => {
    let now = 1_000_000;
    const bus = createMemoryBus({ ...settings, leaseTtlMs: 1_000, now: () => now });
    await bus.ensureTopology();
    const clients = await bus.clients();
    await clients.put('client.shop', new Uint8Array([1]));
    await (await bus.leases()).put('client.shop', new Uint8Array([2]));
    now += 60_000;
    expect((await clients.get('client.shop'))?.value).toEqual(new Uint8Array([1]));
    expect(await (await bus.leases()).get('client.shop')).toBeUndefined();
    await bus.close();
  });
});

runLeaseBucketConformance('memory', async () => {
  let now = Date.now();
  const bus = createMemoryBus({ ...settings, leaseTtlMs: 1_000, now: () => now });
  await bus.ensureTopology();
  return {
    bucket: await bus.leases(),
    elapse: async (ms) => {
      now += ms;
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
    cleanup: () => bus.close(),
  };
});
