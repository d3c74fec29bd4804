/**
 * The pipeline on a clustered NATS: three JetStream nodes, every stream and bucket in three copies. The node that
 * leads the ingested stream is killed (kill -9) under load and restarted; the other two elect a new leader and the
 * services, given every node's URL, reconnect to them and go on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { CLIENT_BUCKET, LEASE_BUCKET } from '@throughline/bus';
import { subjects, TOPICS } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { waitFor } from '@throughline/testkit';
import { expectExactlyOnce } from './exactly-once.js';
import { sendPaced } from './load.js';
import { ledgerCount, startStack, type Stack } from './stack.js';

const EVENTS = 200_000;

describe('a clustered NATS with three copies of every stream', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ natsCluster: true, partitions: 8, stateInstances: 2, writerInstances: 2 });
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('keeps every stream and bucket in three copies', async () => {
    const nc = await connect({ servers: stack.natsUrl.split(',') });
    try {
      const jsm = await jetstreamManager(nc);
      const names = [
        ...TOPICS.map((t) => subjects.stream(t)),
        subjects.deadLetterStream,
        `KV_${LEASE_BUCKET}`,
        `KV_${CLIENT_BUCKET}`,
      ];
      for (const name of names) {
        const info = await jsm.streams.info(name);
        expect(info.config.num_replicas, name).toBe(3);
        expect(info.cluster?.replicas, name).toHaveLength(2);
      }
    } finally {
      await nc.close();
    }
  });

  it('loses nothing and applies nothing twice when the leader of the ingested stream is killed and comes back', async () => {
    const cluster = stack.natsCluster!;
    const events = new LedgerWorkload({ accounts: 2_000, tenants: 5, seed: 41, idPrefix: 'r3' }).take(EVENTS);
    const load = sendPaced(stack.ingest, events, { perSecond: 5_000, batchSize: 500 });
    load.done.catch(() => undefined);
    await waitFor(async () => (await ledgerCount(stack.pool)) >= 30_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    const stream = subjects.stream('ingested');
    const leaderName = await cluster.streamLeader(stream);
    expect(leaderName).toBeDefined();
    const leader = cluster.node(leaderName!);
    const acknowledgedAtKill = load.acknowledged;
    const killedAt = performance.now();
    await leader.kill();
    const committedAtKill = await ledgerCount(stack.pool);
    // Work was in flight: acknowledged to clients, not yet committed.
    expect(acknowledgedAtKill).toBeGreaterThan(committedAtKill);
    // The two nodes left elect a new leader, and the pipeline goes on through them.
    await waitFor(async () => ((await cluster.streamLeader(stream)) ?? leaderName) !== leaderName, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: `no new leader of ${stream}`,
    });
    const electedMs = performance.now() - killedAt;
    await waitFor(async () => (await ledgerCount(stack.pool)) >= committedAtKill + 20_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
      message: 'the pipeline did not go on without the killed node',
    });
    const resumedMs = performance.now() - killedAt;
    await leader.restart();
    // It catches up: its copy of every topic stream is current again (the leaders say so).
    const nc = await connect({ servers: stack.natsUrl.split(',') });
    try {
      const jsm = await jetstreamManager(nc);
      await waitFor(
        async () => {
          for (const topic of TOPICS) {
            const info = await jsm.streams.info(subjects.stream(topic));
            const copy = info.cluster?.replicas?.find((r) => r.name === leaderName);
            if (info.cluster?.leader !== leaderName && copy?.current !== true) return false;
          }
          return true;
        },
        { timeoutMs: 120_000, intervalMs: 200, message: `${leaderName} did not catch up` },
      );
    } finally {
      await nc.close();
    }
    await load.done;
    process.stdout.write(
      `R3: killed ${leaderName} (leader of ${stream}) with ${acknowledgedAtKill - committedAtKill} events in flight; ` +
        `new leader after ${Math.round(electedMs)} ms, 20,000 more committed after ${Math.round(resumedMs)} ms; ` +
        `client retries ${JSON.stringify(load.retries)}\n`,
    );
    await expectExactlyOnce(
      stack,
      events.map((e) => e.eventId),
    );
  });
});
