import {
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { TOPICS, subjects } from '@throughline/contracts';
import { freePort, startNats, waitFor, type NatsHandle } from '@throughline/testkit';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BusErrorCode,
  CLIENT_BUCKET,
  connectJetStreamBus,
  isBusError,
  LEASE_BUCKET,
  sequenceFloor,
  creationSubject,
  resolveBusSettings,
  topicStreamConfig,
  type Bus,
  type BusSettings,
} from '../src/index.js';
import { runBusConformance } from './conformance.js';
import { runLeaseBucketConformance } from './lease-bucket-conformance.js';

const settings: BusSettings = { duplicateWindowMs: 1_000, ackWaitMs: 1_000, maxDeliver: 5, maxAckPending: 8 };
const STREAMS = [
  ...TOPICS.map((topic) => subjects.stream(topic)),
  subjects.deadLetterStream,
  `KV_${LEASE_BUCKET}`,
  `KV_${CLIENT_BUCKET}`,
];

let nats: NatsHandle;
let admin: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  nats = await startNats();
  admin = await connect({ servers: nats.url });
  jsm = await jetstreamManager(admin);
});

afterAll(async () => {
  await admin?.close();
  await nats?.stop();
});

/** Each test starts without streams (and so without consumers). */
async function deleteStreams(): Promise<void> {
  for (const name of STREAMS) await jsm.streams.delete(name).catch(() => false);
}

async function makeBus(busSettings: BusSettings = settings): Promise<Bus> {
  await deleteStreams();
  return connectJetStreamBus({ servers: nats.url, name: 'bus-test', settings: busSettings });
}

runBusConformance('jetstream', async () => {
  const bus = await makeBus();
  return {
    bus,
    settings,
    cleanup: async () => {
      await bus.close();
      await deleteStreams();
    },
  };
});

runLeaseBucketConformance('jetstream', async () => {
  const bus = await makeBus({ ...settings, leaseTtlMs: 1_000 });
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

describe('JetStream bus', { timeout: 20_000 }, () => {
  it('creates work-queue topic streams and a limits dead-letter stream, and updates changed settings', async () => {
    await deleteStreams();
    const logged: string[] = [];
    const record = (msg: string): void => void logged.push(msg);
    const bus = await connectJetStreamBus({
      servers: nats.url,
      settings,
      logger: { info: record, warn: record, error: record },
    });
    try {
      await bus.ensureTopology();
      await bus.ensureTopology();
      expect(logged.filter((msg) => msg === 'stream created')).toHaveLength(STREAMS.length - 2);
      expect(logged.filter((msg) => msg === 'lease bucket created')).toHaveLength(1);
      expect(logged).not.toContain('stream updated');
      const leases = await jsm.streams.info(`KV_${LEASE_BUCKET}`);
      expect(leases.config).toMatchObject({ max_msgs_per_subject: 1, max_age: 5_000 * 1e6 });
      expect(logged.filter((msg) => msg === 'client bucket created')).toHaveLength(1);
      // Credentials stay until revoked: no time to live.
      const clients = await jsm.streams.info(`KV_${CLIENT_BUCKET}`);
      expect(clients.config).toMatchObject({ max_msgs_per_subject: 1, max_age: 0 });
      const topic = await jsm.streams.info(subjects.stream('enriched'));
      expect(topic.config).toMatchObject({
        subjects: [subjects.wildcard('enriched')],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        duplicate_window: 1_000 * 1e6,
        max_msg_size: 8 * 1024 * 1024,
      });
      const dead = await jsm.streams.info(subjects.deadLetterStream);
      expect(dead.config).toMatchObject({
        subjects: ['tl.dead.>'],
        retention: RetentionPolicy.Limits,
        max_age: 7 * 24 * 3600 * 1e9,
      });
    } finally {
      await bus.close();
    }
    const changed = await connectJetStreamBus({
      servers: nats.url,
      settings: { ...settings, duplicateWindowMs: 5_000, leaseTtlMs: 3_000 },
    });
    try {
      await changed.ensureTopology();
      expect((await jsm.streams.info(subjects.stream('enriched'))).config.duplicate_window).toBe(5_000 * 1e6);
      expect((await jsm.streams.info(`KV_${LEASE_BUCKET}`)).config.max_age).toBe(3_000 * 1e6);
    } finally {
      await changed.close();
    }
  });

  it('keeps client credentials in their own bucket: written, watched and deleted, never expired', async () => {
    const bus = await makeBus({ ...settings, leaseTtlMs: 1_000 });
    try {
      await bus.ensureTopology();
      const clients = await bus.clients();
      expect(clients.ttlMs).toBe(0);
      const seen: (string | undefined)[] = [];
      const watch = await clients.watch('client', (entry) =>
        seen.push(
          entry.value === undefined ? undefined : `${entry.key}=${Buffer.from(entry.value).toString()}`,
        ),
      );
      await clients.put('client.shop', new TextEncoder().encode('a'));
      // Past the lease bucket's time to live, the key is still there.
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      expect((await clients.entries('client')).map((e) => e.key)).toEqual(['client.shop']);
      expect(await (await bus.leases()).entries('client')).toEqual([]);
      expect(await clients.delete('client.shop')).toBe(true);
      await waitFor(() => seen.length === 2, { message: 'the put and the delete were not both watched' });
      expect(seen).toEqual(['client.shop=a', undefined]);
      await watch.stop();
    } finally {
      await bus.close();
    }
  });

  it('gives the lease bucket a connection of its own, so ownership never waits behind data, and drains it on close', async () => {
    const monitorPort = await freePort();
    const server = await startNats({ config: `http: "127.0.0.1:${monitorPort}"\n` });
    /** The server's client connections by name, with the messages each sent and received. */
    const connections = async (): Promise<Map<string, { in_msgs: number; out_msgs: number }>> => {
      const reply = await fetch(`http://127.0.0.1:${monitorPort}/connz`);
      const { connections: list } = (await reply.json()) as {
        connections: { name?: string; in_msgs: number; out_msgs: number }[];
      };
      return new Map(list.map((c) => [c.name ?? '', c]));
    };
    try {
      const logged: { msg: string; fields: Record<string, unknown> }[] = [];
      const record = (msg: string, fields?: Record<string, unknown>): void =>
        void logged.push({ msg, fields: fields ?? {} });
      const bus = await connectJetStreamBus({
        servers: server.url,
        name: 'owner',
        settings,
        reconnectTimeWaitMs: 100,
        logger: { info: record, warn: record, error: record },
      });
      await bus.ensureTopology();
      expect([...(await connections()).keys()]).toEqual(['owner']);
      const bucket = await bus.leases();
      const before = await connections();
      expect([...before.keys()].sort()).toEqual(['owner', 'owner-leases']);
      const seen: string[] = [];
      const watch = await bucket.watch('stage', (entry) => seen.push(entry.key));
      for (let i = 0; i < 20; i++) await bucket.create(`stage.leases.${i}`, new Uint8Array([i]));
      await waitFor(() => seen.length === 20, { timeoutMs: 5_000 });
      await watch.stop();
      const after = await connections();
      // Every write and every watched value went through the lease connection; the bus's own carried none.
      expect(after.get('owner-leases')!.in_msgs - before.get('owner-leases')!.in_msgs).toBeGreaterThanOrEqual(
        20,
      );
      expect(
        after.get('owner-leases')!.out_msgs - before.get('owner-leases')!.out_msgs,
      ).toBeGreaterThanOrEqual(40);
      expect(after.get('owner')).toEqual(before.get('owner'));
      // Each connection's state changes name it, so an operator can tell which one was cut.
      await server.restart();
      await waitFor(
        () =>
          ['owner', 'owner-leases'].every((connection) =>
            logged.some(
              (l) =>
                l.msg === 'NATS connection' &&
                l.fields.connection === connection &&
                l.fields.type === 'reconnect',
            ),
          ),
        { timeoutMs: 15_000, message: () => `reconnects logged: ${JSON.stringify(logged)}` },
      );
      await bus.close();
      await waitFor(async () => (await connections()).size === 0, { timeoutMs: 5_000 });

      const shared = await connectJetStreamBus({
        servers: server.url,
        name: 'shared',
        settings,
        separateLeaseConnection: false,
      });
      await shared.leases();
      expect([...(await connections()).keys()]).toEqual(['shared']);
      await shared.close();
    } finally {
      await server.stop();
    }
  });

  it('refuses to change the retention of an existing stream', async () => {
    const bus = await makeBus();
    try {
      await jsm.streams.add({ name: subjects.stream('applied'), subjects: [subjects.wildcard('applied')] });
      const err = await bus.ensureTopology().catch((e: unknown) => e);
      expect(isBusError(err, BusErrorCode.topologyConflict)).toBe(true);
    } finally {
      await bus.close();
    }
  });

  it('gives each mailbox a durable consumer with one filter subject, finite max_deliver and a back-off', async () => {
    const bus = await makeBus();
    try {
      await bus.ensureTopology();
      const mailbox = await bus.openMailbox({ group: 'writer', topic: 'applied', partition: 3 });
      const info = await jsm.consumers.info(subjects.stream('applied'), 'writer-applied-3');
      expect(info.config).toMatchObject({
        durable_name: 'writer-applied-3',
        filter_subject: subjects.of('applied', 3),
        ack_policy: 'explicit',
        deliver_policy: 'all',
        ack_wait: 1_000 * 1e6,
        max_deliver: 5,
        max_ack_pending: 8,
      });
      expect(info.config.filter_subjects ?? []).toEqual([]);
      const backoff = info.config.backoff ?? [];
      expect(backoff[0]).toBe(1_000 * 1e6);
      expect(backoff.length).toBeLessThan(5);
      await mailbox.close();
    } finally {
      await bus.close();
    }
  });

  it('fails to connect with a typed error', async () => {
    const err = await connectJetStreamBus({ servers: 'nats://127.0.0.1:1' }).catch((e: unknown) => e);
    expect(isBusError(err, BusErrorCode.connectFailed)).toBe(true);
  });

  it('keeps publishing and consuming across a server restart', async () => {
    await deleteStreams();
    const bus = await connectJetStreamBus({
      servers: nats.url,
      settings,
      reconnectTimeWaitMs: 200,
      requestTimeoutMs: 2_000,
    });
    try {
      await bus.ensureTopology();
      const subject = subjects.of('enriched', 0);
      const mailbox = await bus.openMailbox({ group: 'state', topic: 'enriched', partition: 0 });
      await bus.publish(subject, new Uint8Array([1]), { msgId: 'before-restart' });
      const [before] = await mailbox.next({ maxMessages: 1, maxWaitMs: 2_000 });
      await before!.ack();

      await nats.kill();
      await nats.restart();
      // A publish buffered while disconnected can go unanswered: callers retry with the same msgId.
      for (let attempt = 1; ; attempt++) {
        const published = await bus.publish(subject, new Uint8Array([2]), { msgId: 'after-restart' }).then(
          () => true,
          (err: unknown) => {
            if (attempt >= 3 || !isBusError(err, BusErrorCode.publishFailed)) throw err;
            return false;
          },
        );
        if (published) break;
      }
      const [after] = await mailbox.next({ maxMessages: 1, maxWaitMs: 10_000 });
      expect([...after!.data]).toEqual([2]);
      await after!.ack();
      await mailbox.close();
    } finally {
      await bus.close();
    }
  });

  it("stores no message below a new stream's floor, even from publishers racing its creation", async () => {
    await deleteStreams();
    const bus = await connectJetStreamBus({ servers: nats.url, name: 'bus-test', settings });
    // Another client publishing all along (as ingest does while a lost stream is created again): nothing it was
    // told is stored may be removed by the purge that moves the new stream to its floor.
    const js = jetstream(admin, { timeout: 2_000 });
    const subject = subjects.of('ingested', 0);
    const acked: number[] = [];
    let racing = true;
    let n = 0;
    const racer = async () => {
      while (racing) {
        const i = n++;
        await js.publish(subject, new Uint8Array([i % 256]), { msgID: `race-${i}` }).then(
          (ack) => void acked.push(ack.seq),
          () => new Promise((r) => setTimeout(r, 1)),
        );
      }
    };
    const racers = Array.from({ length: 16 }, () => racer());
    try {
      await new Promise((r) => setTimeout(r, 50));
      const startedMs = Date.now();
      await bus.ensureTopology();
      await waitFor(() => acked.length >= 200, { timeoutMs: 10_000, intervalMs: 10 });
      racing = false;
      await Promise.all(racers);
      const info = await jsm.streams.info(subjects.stream('ingested'));
      // Every acknowledged message is there, and none is below the floor.
      expect(info.state.messages).toBe(acked.length);
      // The stream starts at a floor, and the first message acknowledged is the first it stores: none was purged.
      expect(info.state.first_seq).toBeGreaterThan(sequenceFloor(startedMs - 60_000));
      expect(Math.min(...acked)).toBe(info.state.first_seq);
    } finally {
      racing = false;
      await Promise.all(racers);
      await bus.close();
    }
  });

  it('finishes a creation left half done, and never purges a stream that already takes messages', async () => {
    await deleteStreams();
    const ingested = topicStreamConfig('ingested', resolveBusSettings(settings));
    // A creator that stopped after creating the stream under its creation subject: the next one finishes it.
    const floor = sequenceFloor(Date.now() - 60_000);
    await jsm.streams.add({ ...ingested, subjects: [creationSubject(ingested.name, floor)] });
    // A stream some other tool created with its real subjects, empty: it may take a message at any moment.
    const enriched = topicStreamConfig('enriched', resolveBusSettings(settings));
    await jsm.streams.add(enriched);
    const bus = await connectJetStreamBus({ servers: nats.url, name: 'bus-test', settings });
    try {
      await bus.ensureTopology();
      const finished = await jsm.streams.info(ingested.name);
      expect(finished.config.subjects).toEqual(ingested.subjects);
      // At the floor its creator chose, which every service that finishes it reads from the subject.
      expect(finished.state.first_seq).toBe(floor);
      const left = await jsm.streams.info(enriched.name);
      expect(left.state.first_seq).toBeLessThanOrEqual(1);
      expect((await bus.publish(subjects.of('enriched', 0), new Uint8Array([1]), { msgId: 'e' })).seq).toBe(
        1,
      );
    } finally {
      await bus.close();
    }
  });

  it('creates a consumer again that stopped delivering messages the stream still stores', async () => {
    await deleteStreams();
    // Here the consumer stops because the message used up its deliveries; nats-server 2.9.10 also leaves consumers
    // reporting nothing pending while their partition's messages stay stored, after a node of a cluster restarted.
    const bus = await connectJetStreamBus({
      servers: nats.url,
      name: 'bus-test',
      settings: { ...settings, maxDeliver: 2 },
      consumerCheckIntervalMs: 300,
    });
    try {
      await bus.ensureTopology();
      const mailbox = await bus.openMailbox({ group: 'enrich', topic: 'ingested', partition: 2 });
      await bus.publish(subjects.of('ingested', 2), new Uint8Array([7]), { msgId: 'stranded' });
      // Delivered twice and never acknowledged: the consumer gives up on it, and it stays stored.
      for (let delivery = 1; delivery <= 2; delivery++) {
        const [msg] = await mailbox.next({ maxMessages: 1, maxWaitMs: 10_000 });
        expect(msg?.deliveryCount).toBe(delivery);
      }
      const failure: unknown = await mailbox
        .next({ maxMessages: 1, maxWaitMs: 20_000 })
        .then(() => mailbox.next({ maxMessages: 1, maxWaitMs: 20_000 }))
        .catch((e: unknown) => e);
      expect(isBusError(failure, BusErrorCode.mailboxFailed)).toBe(true);
      expect((failure as Error).message).toMatch(/lost track of 1 stored messages/);
      // Opened again (as its owner does), the new consumer delivers it.
      const reopened = await bus.openMailbox({ group: 'enrich', topic: 'ingested', partition: 2 });
      const [again] = await reopened.next({ maxMessages: 1, maxWaitMs: 10_000 });
      expect([...again!.data]).toEqual([7]);
      await again!.ack();
      await reopened.close();
    } finally {
      await bus.close();
    }
  });

  it('creates its streams and lease bucket again when the server lost its store, above every earlier sequence', async () => {
    const own = await startNats();
    const bus = await connectJetStreamBus({
      servers: own.url,
      settings,
      reconnectTimeWaitMs: 200,
      requestTimeoutMs: 2_000,
    });
    try {
      const startedMs = Date.now();
      await bus.ensureTopology();
      const subject = subjects.of('ingested', 0);
      const first = await bus.publish(subject, new Uint8Array([1]), { msgId: 'before-loss' });
      // A new stream starts at the floor of its creation time, not at 1.
      expect(first.seq).toBeGreaterThanOrEqual(sequenceFloor(startedMs - 5_000));
      expect(first.seq).toBeLessThanOrEqual(sequenceFloor(Date.now() + 5_000));
      const mailbox = await bus.openMailbox({ group: 'enrich', topic: 'ingested', partition: 0 });
      const [before] = await mailbox.next({ maxMessages: 1, maxWaitMs: 2_000 });
      await before!.ack();
      const leases = await bus.leases();
      const epoch = (await leases.create('stage.test', new Uint8Array([1])))!;

      await own.kill();
      for (const entry of readdirSync(own.storeDir))
        rmSync(join(own.storeDir, entry), { recursive: true, force: true });
      await own.restart();

      // The first call that finds no stream creates the topology again (callers retry what went unanswered).
      let after: { seq: number } | undefined;
      await waitFor(
        async () =>
          (after = await bus
            .publish(subject, new Uint8Array([2]), { msgId: 'after-loss' })
            .catch(() => undefined)),
        { timeoutMs: 20_000, intervalMs: 200, message: 'no publish succeeded after the store was lost' },
      );
      expect(after!.seq).toBeGreaterThan(first.seq);

      // The old mailbox ends (its consumer is gone) rather than waiting forever; a new one gets the message.
      await waitFor(
        () =>
          mailbox.next({ maxMessages: 1, maxWaitMs: 500 }).then(
            () => false,
            () => true,
          ),
        {
          timeoutMs: 20_000,
          intervalMs: 0,
          message: 'the mailbox of a consumer that no longer exists never failed',
        },
      );
      const reopened = await bus.openMailbox({ group: 'enrich', topic: 'ingested', partition: 0 });
      const [got] = await reopened.next({ maxMessages: 1, maxWaitMs: 5_000 });
      expect([...got!.data]).toEqual([2]);
      await got!.ack();
      await reopened.close();

      // Lease epochs go on above the lost bucket's.
      const next = await leases.create('stage.test', new Uint8Array([2]));
      expect(next).toBeGreaterThan(epoch);
    } finally {
      await bus.close();
      await own.stop();
    }
  });
});
