/**
 * The pipeline on a clustered NATS: three JetStream nodes, every stream and bucket in three copies, on nats-server
 * 2.10 or newer (three copies are refused on 2.9, where a work-queue stream's copies can disagree after a node
 * restart): the one on PATH when it is new enough, else one the test kit fetches from Debian's packages
 * (`natsServerAtLeast`). A failure leaves every service's and server's output under
 * `$TMPDIR/throughline-clustered-<time>/`.
 *
 * 1. The node that leads the ingested stream is killed (kill -9) under load and restarted; the other two elect a new
 *    leader and the services, given every node's URL, reconnect to them and go on. Partitions change owners while
 *    the node is down (a state and a writer instance are killed, so their consumers are replaced by the survivors'
 *    while one server is missing) and again once it is back (the two come back and take their share): a consumer
 *    deleted while a server is down may live on in that server and refuse the next owner's consumer, which the bus
 *    clears.
 * 2. A node loses its store under load (kill -9, its directory emptied, restarted): a disk replaced. The other two
 *    hold every acknowledged event; the node catches up from them.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { CLIENT_BUCKET, LEASE_BUCKET } from '@throughline/bus';
import { subjects, TOPICS, type Event } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { waitFor } from '@throughline/testkit';
import { expectExactlyOnce } from './exactly-once.js';
import { acquisitions, ownedPartitions, sendPaced } from './load.js';
import { ledgerCount, startStack, type Stack } from './stack.js';

const EVENTS = 200_000;

// Each run waits on elections and catch-ups (up to two minutes each at worst): more than the suite's default.
describe('a clustered NATS with three copies of every stream', () => {
  let stack: Stack;
  /** Every event acknowledged so far, by every test (the ledger holds them all). */
  const acknowledged: Event[] = [];
  const keepOutputOnFailure = (): void =>
    onTestFailed(() => {
      const dir = join(tmpdir(), `throughline-clustered-${Date.now()}`);
      mkdirSync(dir, { recursive: true });
      for (const [name, service] of stack.services) writeFileSync(join(dir, `${name}.log`), service.output());
      for (const node of stack.natsCluster!.nodes)
        writeFileSync(join(dir, `nats-${node.name}.log`), node.output());
      process.stdout.write(`R3: the services' and servers' output is in ${dir}\n`);
      // Where only the test's output is kept (CI): each service's last warnings and errors.
      for (const [name, service] of stack.services) {
        const warnings = service
          .output()
          .split('\n')
          .filter((line) => /"level":(40|50|60)\b/.test(line))
          .slice(-20);
        if (warnings.length > 0)
          process.stdout.write(`R3: ${name}'s last warnings:\n${warnings.join('\n')}\n`);
      }
    });
  /**
   * Resolves once node `name` holds a current copy of every topic stream and of the lease bucket (the leaders say
   * so), or leads it; returns the server version a connection reports.
   */
  const caughtUp = async (name: string, what: string): Promise<string> => {
    const nc = await connect({ servers: stack.natsUrl.split(',') });
    try {
      // (Not the account check of `jetstreamManager`: the node just restarted may be the one this connection
      // reached, and it answers JetStream requests only once it caught up.)
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      await waitFor(
        async () => {
          for (const stream of [...TOPICS.map((t) => subjects.stream(t)), `KV_${LEASE_BUCKET}`]) {
            const info = await jsm.streams.info(stream).catch(() => undefined);
            const copy = info?.cluster?.replicas?.find((r) => r.name === name);
            if (info === undefined || (info.cluster?.leader !== name && copy?.current !== true)) return false;
          }
          return true;
        },
        { timeoutMs: 120_000, intervalMs: 200, message: `${name} did not catch up ${what}` },
      );
      return nc.info?.version ?? 'unknown';
    } finally {
      await nc.close();
    }
  };
  const expectEveryEventOnce = (): Promise<void> =>
    expectExactlyOnce(
      stack,
      acknowledged.map((e) => e.eventId),
      { accounts: new Map(acknowledged.map((e) => [e.eventId, e.accountId])) },
    );
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
    keepOutputOnFailure();
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
    // Under load: the clients were still sending when the node died.
    expect(acknowledgedAtKill).toBeLessThan(EVENTS);
    // The two nodes left elect a new leader, and the pipeline goes on through them.
    await waitFor(async () => ((await cluster.streamLeader(stream)) ?? leaderName) !== leaderName, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: `no new leader of ${stream}`,
    });
    const electedMs = performance.now() - killedAt;
    // With the node down, a state and a writer instance die: the survivors take their partitions over, replacing
    // their consumers while one of the three servers is missing.
    const taken = (name: string): number => acquisitions(stack.services.get(name)!.output()).length;
    const [deadState, deadWriter] = [stack.services.get('state-0')!, stack.services.get('writer-0')!];
    // Both may have lost their leases while the lease bucket elected its leader too, and the survivors taken them
    // all: the two are killed once they hold partitions again (the survivors hand over their share), so that their
    // death leaves partitions to take over.
    await waitFor(
      () => ownedPartitions(deadState.output()).size > 0 && ownedPartitions(deadWriter.output()).size > 0,
      {
        timeoutMs: 60_000,
        intervalMs: 100,
        message: 'state-0 and writer-0 never held partitions again after the election',
      },
    );
    const [stateBefore, writerBefore] = [taken('state-1'), taken('writer-1')];
    await Promise.all([deadState.kill('SIGKILL'), deadWriter.kill('SIGKILL')]);
    await waitFor(() => taken('state-1') > stateBefore && taken('writer-1') > writerBefore, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: "the surviving state and writer instances never took over the killed ones' partitions",
    });
    await waitFor(async () => (await ledgerCount(stack.pool)) >= committedAtKill + 20_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
      message: 'the pipeline did not go on without the killed node',
    });
    const resumedMs = performance.now() - killedAt;
    await leader.restart();
    // It catches up: its copy of every topic stream is current again (the leaders say so).
    const serverVersion = await caughtUp(leaderName!, 'after its restart');
    // Every server back: the two instances return and take their share of the partitions again, under new
    // consumers.
    const [stateBack, writerBack] = [taken('state-0'), taken('writer-0')];
    await Promise.all([deadState.restart(), deadWriter.restart()]);
    // (A restarted service first sets up its streams, which a cluster still catching up may answer slowly.)
    await waitFor(() => taken('state-0') > stateBack && taken('writer-0') > writerBack, {
      timeoutMs: 120_000,
      intervalMs: 100,
      message: 'the restarted state and writer instances never took partitions back',
    });
    await load.done;
    for (const event of events) acknowledged.push(event);
    process.stdout.write(
      `R3 on nats-server ${serverVersion}: killed ${leaderName} (leader of ${stream}) with ` +
        `${acknowledgedAtKill - committedAtKill} events acknowledged and not committed; ` +
        `new leader after ${Math.round(electedMs)} ms, 20,000 more committed after ${Math.round(resumedMs)} ms; ` +
        `partitions moved ${taken('state-1') - stateBefore + taken('writer-1') - writerBefore} times with the node ` +
        `down, ${taken('state-0') - stateBack + taken('writer-0') - writerBack} back after; ` +
        `client retries ${JSON.stringify(load.retries)}\n`,
    );
    await expectEveryEventOnce();
    const ghosts = [...stack.services.values()].reduce(
      (n, service) =>
        n +
        service
          .output()
          .split('\n')
          .filter((line) => line.includes('still held by it')).length,
      0,
    );
    process.stdout.write(`R3: consumers kept by a server after their deletion, cleared: ${ghosts}\n`);
  }, 600_000);

  it('loses nothing when a node loses its store under load (a disk replaced) and catches up from the others', async () => {
    const cluster = stack.natsCluster!;
    keepOutputOnFailure();
    // Every node up and current (as the test before leaves them, unless it failed midway).
    for (const down of cluster.nodes.filter((n) => n.pid === undefined)) {
      await down.restart();
      await caughtUp(down.name, 'after its restart');
    }
    const stream = subjects.stream('ingested');
    const events = new LedgerWorkload({ accounts: 2_000, tenants: 5, seed: 43, idPrefix: 'r3-disk' }).take(
      60_000,
    );
    const committedBefore = await ledgerCount(stack.pool);
    const load = sendPaced(stack.ingest, events, { perSecond: 5_000, batchSize: 500 });
    load.done.catch(() => undefined);
    await waitFor(async () => (await ledgerCount(stack.pool)) >= committedBefore + 10_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    // The leader of the ingested stream: the copy every acknowledged event was first written to.
    const node = cluster.node((await cluster.streamLeader(stream))!);
    await node.kill();
    const acknowledgedAtLoss = load.acknowledged;
    const committedAtLoss = (await ledgerCount(stack.pool)) - committedBefore;
    for (const entry of readdirSync(node.storeDir))
      rmSync(join(node.storeDir, entry), { recursive: true, force: true });
    expect(acknowledgedAtLoss).toBeLessThan(events.length);
    await waitFor(async () => ((await cluster.streamLeader(stream)) ?? node.name) !== node.name, {
      timeoutMs: 30_000,
      intervalMs: 100,
      message: `no new leader of ${stream}`,
    });
    await node.restart();
    await load.done;
    for (const event of events) acknowledged.push(event);
    await expectEveryEventOnce();
    // The emptied node holds its copy of every stream again, current with the leader.
    await caughtUp(node.name, 'after losing its store');
    process.stdout.write(
      `R3: ${node.name} (leader of ${stream}) lost its store with ${acknowledgedAtLoss} of ${events.length} events ` +
        `acknowledged and ${committedAtLoss} committed; client retries ${JSON.stringify(load.retries)}\n`,
    );
  }, 600_000);
});
