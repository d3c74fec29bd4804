/**
 * The JetStream bus on a three-node NATS cluster: streams and buckets in three copies, moved there in place from
 * one copy, and the lease bucket's behaviour unchanged on a replicated bucket.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { TOPICS, subjects } from '@throughline/contracts';
import { startNatsCluster, waitFor, type NatsClusterHandle } from '@throughline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_BUCKET,
  connectJetStreamBus,
  isBusError,
  LEASE_BUCKET,
  type BusError,
  type BusSettings,
} from '../src/index.js';
import { isNoPeers } from '../src/jetstream/nats-errors.js';
import { runLeaseBucketConformance } from './lease-bucket-conformance.js';

const settings: BusSettings = { duplicateWindowMs: 1_000, ackWaitMs: 1_000, maxDeliver: 5, maxAckPending: 8 };
const STREAMS = [
  ...TOPICS.map((topic) => subjects.stream(topic)),
  subjects.deadLetterStream,
  `KV_${LEASE_BUCKET}`,
  `KV_${CLIENT_BUCKET}`,
];

let cluster: NatsClusterHandle;
let admin: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  cluster = await startNatsCluster();
  admin = await connect({ servers: cluster.url.split(',') });
  jsm = await jetstreamManager(admin);
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await cluster?.stop();
});

async function deleteStreams(): Promise<void> {
  for (const name of STREAMS) await jsm.streams.delete(name).catch(() => false);
}

describe('JetStream bus on a NATS cluster', { timeout: 120_000 }, () => {
  it('keeps every stream and bucket in the configured number of copies, moving existing ones in place', async () => {
    await deleteStreams();
    const one = await connectJetStreamBus({ servers: cluster.url, settings });
    await one.ensureTopology();
    await one.close();
    for (const name of STREAMS) expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(1);

    const three = await connectJetStreamBus({
      servers: cluster.url,
      settings: { ...settings, streamReplicas: 3, acceptNats29Replicas: true },
    });
    try {
      await three.ensureTopology();
      for (const name of STREAMS) {
        expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);
        await waitFor(async () => (await jsm.streams.info(name)).cluster?.replicas?.length === 2, {
          timeoutMs: 30_000,
          message: `${name} did not get its two more copies`,
        });
      }
    } finally {
      await three.close();
    }
  });

  it('waits, creating its streams in three copies, while the cluster has too few servers up to agree', async () => {
    await deleteStreams();
    // Two nodes of three are down: JetStream has no majority, so no meta leader, and every request to create a
    // stream goes unanswered (times out, or is refused as unavailable) until they are back.
    // (With one node down instead, whether the creation waits depends on whether the meta leader still places a
    // copy on it: after a kill -9 it never marks the node offline, and a copy on it still has a majority. And a
    // cluster still forming refuses placements as "no suitable peers", also tried again: not reproduced here.)
    const down = cluster.nodes.slice(1);
    await Promise.all(down.map((node) => node.kill()));
    const warnings: string[] = [];
    const bus = await connectJetStreamBus({
      servers: cluster.nodes[0]!.url,
      settings: { ...settings, streamReplicas: 3, acceptNats29Replicas: true },
      requestTimeoutMs: 2_000,
      logger: { info: () => undefined, warn: (m) => void warnings.push(m), error: () => undefined },
    });
    try {
      let outcome = 'still under way';
      const created = bus.ensureTopology().then(
        () => void (outcome = 'created every stream without a retry'),
        (err: unknown) => {
          outcome = `failed: ${String(err)}`;
          throw err;
        },
      );
      created.catch(() => undefined);
      await waitFor(() => warnings.some((w) => w.includes('trying again')), {
        timeoutMs: 20_000,
        message: () => `the unanswered creation was not tried again (ensureTopology ${outcome})`,
      });
      expect(outcome).toBe('still under way');
      await Promise.all(down.map((node) => node.restart()));
      await created;
      for (const name of STREAMS) expect((await jsm.streams.info(name)).config.num_replicas, name).toBe(3);
    } finally {
      await bus.close();
      await Promise.all(down.filter((node) => node.pid === undefined).map((node) => node.restart()));
      await cluster.waitHealthy(30_000);
    }
  });

  it('says what to look at when the cluster cannot place the copies asked for', async () => {
    // Five copies on three servers: refused as "no suitable peers for placement" for good.
    const bus = await connectJetStreamBus({
      servers: cluster.url,
      settings: { ...settings, streamReplicas: 5, acceptNats29Replicas: true },
      topologyRetryMs: 1_500,
    });
    try {
      const err = (await bus.ensureTopology().then(
        () => undefined,
        (e: unknown) => e,
      )) as BusError | undefined;
      expect(isBusError(err, 'BUS_REQUEST_FAILED'), String(err)).toBe(true);
      expect(err!.message).toMatch(/could not place 5 copies of each stream within 1500 ms/);
      expect(err!.message).toMatch(
        /fewer than 5 JetStream servers up, or a server is outside JetStream's meta group/,
      );
      expect(isNoPeers(err)).toBe(true);
    } finally {
      await bus.close();
    }
  });

  it('accepts the seed servers as one comma-separated setting', async () => {
    const [first, ...rest] = cluster.nodes;
    const bus = await connectJetStreamBus({
      servers: ` ${first!.url}, ${rest.map((n) => n.url).join(' ,')} `,
    });
    await bus.close();
  });
});

runLeaseBucketConformance('jetstream, three copies on a cluster', async () => {
  await deleteStreams();
  const bus = await connectJetStreamBus({
    servers: cluster.url,
    settings: { ...settings, leaseTtlMs: 1_000, streamReplicas: 3, acceptNats29Replicas: true },
  });
  await bus.ensureTopology();
  return {
    bucket: await bus.leases(),
    elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    cleanup: async () => {
      await bus.close();
      await deleteStreams();
    },
  };
});
