import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus, type Bus, type BusMessage } from '@throughline/bus';
import { subjects } from '@throughline/contracts';
import { waitFor } from '@throughline/testkit';
import { hostStage, RuntimeError, RuntimeErrorCode, type Lease, type StageHost } from '../src/index.js';

const P = 8;
const decode = (msg: BusMessage): number => Number(new TextDecoder().decode(msg.data));

interface Processed {
  member: string;
  partition: number;
  epoch: number;
  value: number;
}

describe('hostStage', () => {
  let bus: Bus;
  const hosts: StageHost[] = [];
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()));
    await bus?.close();
  });

  async function host(
    member: string,
    processed: Processed[],
    opts: { fenceFrom?: (lease: Lease) => boolean } = {},
  ): Promise<StageHost> {
    const h = await hostStage({
      bus,
      stage: 'writer',
      topic: 'applied',
      partitionCount: P,
      memberId: member,
      decode,
      actor: { pollWaitMs: 20, maxTurnMessages: 4 },
      processorFor: (lease) => ({
        handle: async (turn) => {
          if (opts.fenceFrom?.(lease))
            throw new RuntimeError(RuntimeErrorCode.fenced, `epoch ${lease.epoch} is stale`);
          await new Promise((r) => setTimeout(r, 2));
          for (const { value } of turn) processed.push({ member, ...lease, value });
        },
      }),
    });
    hosts.push(h);
    return h;
  }

  async function publish(from: number, to: number): Promise<void> {
    const sends: Promise<unknown>[] = [];
    for (let n = from; n < to; n++)
      sends.push(
        bus.publish(subjects.of('applied', n % P), new TextEncoder().encode(String(n)), { msgId: `m${n}` }),
      );
    await Promise.all(sends);
  }

  it('processes every message once, in order per partition, while instances join and leave', async () => {
    bus = createMemoryBus({ leaseTtlMs: 800 });
    await bus.ensureTopology();
    const processed: Processed[] = [];
    await host('a', processed);
    let sent = 0;
    const feed = async (n: number): Promise<void> => {
      await publish(sent, sent + n);
      sent += n;
    };
    const settled =
      (...members: StageHost[]) =>
      () =>
        Promise.resolve(
          members.every((m) => m.owned().length === m.target().length && m.owned().length >= 2) &&
            members.reduce((n, m) => n + m.owned().length, 0) === P,
        );
    const a = hosts[0]!;
    await feed(400);
    const b = await host('b', processed);
    await waitFor(settled(a, b), { timeoutMs: 5_000, intervalMs: 10 });
    await feed(400);
    const c = await host('c', processed);
    await waitFor(settled(a, b, c), { timeoutMs: 5_000, intervalMs: 10 });
    await feed(400);
    await b.stop();
    hosts.splice(hosts.indexOf(b), 1);
    await feed(400);
    await waitFor(() => Promise.resolve(processed.length >= sent), { timeoutMs: 10_000, intervalMs: 10 });

    expect(processed.map((p) => p.value).sort((x, y) => x - y)).toEqual(
      Array.from({ length: sent }, (_, n) => n),
    );
    for (let partition = 0; partition < P; partition++) {
      const mine = processed.filter((p) => p.partition === partition);
      expect(mine.map((p) => p.value)).toEqual([...mine.map((p) => p.value)].sort((x, y) => x - y));
      // Epochs only grow: once a newer owner processed the partition, no older one did again.
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.epoch).toBeGreaterThanOrEqual(mine[i - 1]!.epoch);
    }
    expect(new Set(processed.map((p) => p.member))).toEqual(new Set(['a', 'b', 'c']));
  });

  it('gives up a partition whose effects are fenced, and takes it again only under a new lease', async () => {
    bus = createMemoryBus({ leaseTtlMs: 600 });
    await bus.ensureTopology();
    const processed: Processed[] = [];
    // The turns of partition 3 under its first lease are refused as stale (as when a newer owner raised the fences).
    let firstEpoch: number | undefined;
    const a = await host('a', processed, {
      fenceFrom: (lease) => lease.partition === 3 && (firstEpoch ??= lease.epoch) === lease.epoch,
    });
    await publish(0, 16);
    await waitFor(() => Promise.resolve(a.fencedPartitions === 1), { timeoutMs: 5_000, intervalMs: 10 });
    expect(a.owned().find((l) => l.partition === 3)?.epoch).not.toBe(firstEpoch);
    await waitFor(() => Promise.resolve(processed.length === 16), { timeoutMs: 5_000, intervalMs: 10 });
    const three = processed.filter((p) => p.partition === 3);
    expect(three.map((p) => p.value)).toEqual([3, 11]);
    expect(three.every((p) => p.epoch > firstEpoch!)).toBe(true);
    expect(a.restarts).toBe(0);
    expect(a.fencedPartitions).toBe(1);
    expect(a.refusedEffects).toBe(1);
  });

  it('takes partitions again under larger epochs when the stores hold epochs the lease bucket never reached', async () => {
    // A lease bucket that started over (lost and created again), while the stores kept the fences of before.
    bus = createMemoryBus({ leaseTtlMs: 600 });
    await bus.ensureTopology();
    const storesEpoch = 10_000;
    const processed: Processed[] = [];
    const h = await hostStage({
      bus,
      stage: 'writer',
      topic: 'applied',
      partitionCount: P,
      memberId: 'a',
      decode,
      actor: { pollWaitMs: 20 },
      processorFor: (lease) => ({
        claim: () =>
          lease.epoch > storesEpoch
            ? Promise.resolve()
            : Promise.reject(
                Object.assign(new RuntimeError(RuntimeErrorCode.fenced, 'stale'), {
                  currentEpoch: storesEpoch,
                }),
              ),
        handle: (turn) => {
          for (const { value } of turn) processed.push({ member: 'a', ...lease, value });
          return Promise.resolve();
        },
      }),
    });
    hosts.push(h);
    await publish(0, 40);
    await waitFor(() => Promise.resolve(processed.length === 40), { timeoutMs: 5_000, intervalMs: 10 });
    expect(processed.every((p) => p.epoch > storesEpoch)).toBe(true);
    expect(h.owned()).toHaveLength(P);
  });
});
