import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsCluster, waitFor, type NatsClusterHandle } from '../src/index.js';
import { natsRequest } from './helpers.js';

interface StreamInfo {
  config: { name: string; num_replicas: number };
  state: { messages: number };
  cluster: { leader?: string; replicas?: { name: string; current: boolean }[] };
}

describe('startNatsCluster', { timeout: 120_000 }, () => {
  let cluster: NatsClusterHandle;

  beforeAll(async () => {
    cluster = await startNatsCluster();
  });

  afterAll(async () => {
    await cluster.stop();
  });

  const info = async (port: number): Promise<StreamInfo> =>
    JSON.parse(await natsRequest(port, '$JS.API.STREAM.INFO.ORDERS', '')) as StreamInfo;

  it("starts with every node in JetStream's meta group, as each node reports it", async () => {
    // Started at once, nats-server 2.10.27 sometimes leaves a node out of the group (size 2 of 3): streams of three
    // copies are then refused. The start must not hand out such a cluster.
    for (const node of cluster.nodes) {
      const jsz = (await (await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`)).json()) as {
        meta_cluster: {
          cluster_size: number;
          leader: string;
          replicas?: { name: string; current: boolean }[];
        };
      };
      expect(jsz.meta_cluster.cluster_size, node.name).toBe(3);
      if (jsz.meta_cluster.leader === node.name)
        expect(jsz.meta_cluster.replicas?.map((r) => r.name).sort()).toEqual(
          cluster.nodes.filter((n) => n !== node).map((n) => n.name),
        );
    }
  });

  it('runs three routed JetStream nodes that keep a stream in three copies and survive the loss of its leader', async () => {
    expect(cluster.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    expect(cluster.url.split(',')).toHaveLength(3);
    const [first] = cluster.nodes;
    const created = JSON.parse(
      await natsRequest(
        first!.port,
        '$JS.API.STREAM.CREATE.ORDERS',
        JSON.stringify({ name: 'ORDERS', subjects: ['orders.>'], storage: 'file', num_replicas: 3 }),
      ),
    ) as StreamInfo;
    expect(created.config.num_replicas).toBe(3);
    await waitFor(async () => (await info(first!.port)).cluster.replicas?.length === 2, {
      timeoutMs: 20_000,
    });
    for (let i = 0; i < 10; i++) await natsRequest(first!.port, `orders.${i}`, `order ${i}`);

    const leaderName = (await info(first!.port)).cluster.leader!;
    expect(await cluster.streamLeader('ORDERS')).toBe(leaderName);
    const leader = cluster.node(leaderName);
    const other = cluster.nodes.find((n) => n !== leader)!;
    await leader.kill();
    // The two left elect a new leader and still hold every message.
    await waitFor(
      async () => {
        const now = await info(other.port).catch(() => undefined);
        return now?.cluster.leader !== undefined && now.cluster.leader !== leader.name;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    expect((await info(other.port)).state.messages).toBe(10);
    await natsRequest(other.port, 'orders.10', 'order 10');

    await leader.restart();
    await cluster.waitHealthy();
    // The restarted node caught up with what was written while it was down.
    await waitFor(
      async () =>
        (await info(leader.port)).cluster.replicas?.every((r) => r.current) === true &&
        (await info(leader.port)).state.messages === 11,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });
});
