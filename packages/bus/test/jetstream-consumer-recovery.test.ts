/**
 * Consumers that stop without saying so, and what the bus does about them.
 *
 * - A consumer deleted while one of its stream's servers is down survives on that server (nats-server 2.9.10): once
 *   the server is back, it refuses every new consumer on the same partition as "not unique" — the partition would
 *   stop for good after its next change of owner. The bus clears such a ghost. Its own cluster: measured here, a
 *   node killed for the first time in a fresh cluster leaves a ghost about half the time.
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { subjects } from '@throughline/contracts';
import { startNatsCluster, waitFor, type NatsClusterHandle } from '@throughline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BusError,
  BusErrorCode,
  connectJetStreamBus,
  consumerName,
  type Bus,
  type MailboxOptions,
} from '../src/index.js';

// nats-server 2.9.10 is what this machine has: three copies there are refused unless accepted.
const settings = { ackWaitMs: 2_000, maxAckPending: 8, streamReplicas: 3, acceptNats29Replicas: true };
const TOPIC = 'applied' as const;
const STREAM = subjects.stream(TOPIC);
/** Trials before giving up on seeing a ghost: each kills a node that has not been killed before in this cluster. */
const TRIALS = 8;

let cluster: NatsClusterHandle;
let admin: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  cluster = await startNatsCluster();
  admin = await connect({ servers: cluster.url.split(','), maxReconnectAttempts: -1 });
  jsm = await jetstreamManager(admin);
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await cluster?.stop();
});

/** `work`, again while the cluster elects leaders after a kill (requests time out or are refused as unavailable). */
async function whileElecting<T>(what: string, work: () => Promise<T>): Promise<T> {
  const result = await waitFor(async () => ({ value: await work() }), {
    timeoutMs: 30_000,
    intervalMs: 250,
    message: what,
  });
  return result.value;
}

interface Warning {
  msg: string;
  fields: Record<string, unknown> | undefined;
}

async function busWithWarnings(): Promise<{ bus: Bus; warnings: Warning[] }> {
  const warnings: Warning[] = [];
  const bus = await connectJetStreamBus({
    servers: cluster.url,
    settings,
    logger: {
      info: () => undefined,
      warn: (msg, fields) => warnings.push({ msg, fields }),
      error: () => undefined,
    },
  });
  return { bus, warnings };
}

/**
 * Opens the mailbox as a stage's partition owner does — again whenever it fails (a consumer that stopped answering
 * is created anew) — calls `send`, and reads until a message arrives.
 */
async function receiveAsOwner(
  bus: Bus,
  opts: MailboxOptions,
  send: () => Promise<unknown>,
  warnings: Warning[],
): Promise<{ data: string[]; reopened: number }> {
  let reopened = 0;
  let sent = false;
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    const mailbox = await whileElecting('open mailbox', () => bus.openMailbox(opts));
    if (!sent) {
      await send();
      sent = true;
    }
    try {
      while (Date.now() < deadline) {
        const got = await mailbox.next({ maxMessages: 10, maxWaitMs: 1_000 });
        if (got.length > 0) {
          await Promise.all(got.map((m) => m.ack()));
          return { data: got.map((m) => new TextDecoder().decode(m.data)), reopened };
        }
      }
    } catch (err) {
      if (!(err instanceof BusError) || err.code !== BusErrorCode.mailboxFailed) throw err;
      reopened++;
    }
  }
  throw new Error(
    `nothing delivered in 90 s (mailbox opened again ${reopened} times): ${await describePartition(opts)}; ` +
      `the bus warned: ${JSON.stringify(warnings)}`,
  );
}

/** What the servers say of a partition's stream and consumers, for a failure's message. */
async function describePartition(opts: MailboxOptions): Promise<string> {
  const subject = subjects.of(opts.topic, opts.partition);
  const facts: Record<string, unknown> = {};
  try {
    const stream = await jsm.streams.info(STREAM, { subjects_filter: subject });
    facts.stream = { state: { ...stream.state, subjects: stream.state.subjects }, cluster: stream.cluster };
    const consumers: unknown[] = [];
    for await (const c of jsm.consumers.list(STREAM))
      if (c.config.filter_subject === subject)
        consumers.push({
          name: c.name,
          pending: c.num_pending,
          ackPending: c.num_ack_pending,
          delivered: c.delivered,
          ackFloor: c.ack_floor,
          cluster: c.cluster,
        });
    facts.consumers = consumers;
  } catch (err) {
    facts.error = String(err);
  }
  return JSON.stringify(facts);
}

describe('a consumer deleted while a server was down', { timeout: 300_000 }, () => {
  it('does not stop the next owner of the partition from consuming it', async () => {
    const setup = await busWithWarnings();
    await setup.bus.ensureTopology();
    await setup.bus.close();
    const killed = new Set<string>();
    let ghosts: unknown[] = [];
    let trial = 0;
    let reopened = 0;
    let refusedWhileDown = 0;
    for (; trial < TRIALS && ghosts.length === 0; trial++) {
      const partition = trial;
      const at = (epoch: number): MailboxOptions => ({ group: 'writer', topic: TOPIC, partition, epoch });
      // The first owner consumes under epoch 1.
      const first = await busWithWarnings();
      const one = await whileElecting('first owner', () => first.bus.openMailbox(at(1)));
      // A node that holds a copy of its consumer, but does not lead it, goes down…
      const info = await jsm.consumers.info(STREAM, consumerName(at(1)));
      const followers = cluster.nodes.filter((n) => n.name !== info.cluster?.leader);
      const victim = followers.find((n) => !killed.has(n.name)) ?? followers[0]!;
      killed.add(victim.name);
      await victim.kill();
      // …and meanwhile the partition moves: a second owner replaces the consumer of epoch 1 by its own. (nats-server
      // 2.9.10 may refuse it as "not unique" for as long as the node is down: seen in CI once in eight runs. Then
      // it is opened once the node is back; the premise below — a ghost seen and cleared — decides the test.)
      const second = await busWithWarnings();
      const opened = await whileElecting('second owner', () => second.bus.openMailbox(at(2))).then(
        () => true,
        () => false,
      );
      await one.close();
      await first.bus.close();
      await victim.restart();
      if (!opened) {
        refusedWhileDown++;
        await whileElecting('second owner, the node back', () => second.bus.openMailbox(at(2)));
      }
      // Back: its copy of the stream current again. (Not `waitHealthy()`: on nats-server 2.9.10 a copy of a
      // consumer created while the server was down may never be reported current.)
      await waitFor(
        async () => {
          const stream = await jsm.streams.info(STREAM);
          const copy = stream.cluster?.replicas?.find((r) => r.name === victim.name);
          return stream.cluster?.leader === victim.name || copy?.current === true;
        },
        { timeoutMs: 60_000, intervalMs: 250, message: `${victim.name} did not catch up on ${STREAM}` },
      );
      // A third owner, in a process that saw none of it, takes the partition over once every server is back.
      const third = await busWithWarnings();
      try {
        const received = await receiveAsOwner(
          third.bus,
          at(3),
          () =>
            // A stream leader just elected may refuse a publish once (10077, its count of messages set right again).
            whileElecting('publish', () =>
              third.bus.publish(subjects.of(TOPIC, partition), new TextEncoder().encode('after'), {
                msgId: `ghost-${trial}`,
              }),
            ),
          third.warnings,
        );
        expect(received.data).toEqual(['after']);
        reopened += received.reopened;
        ghosts = [...second.warnings, ...third.warnings]
          .filter((w) => w.msg.includes('still held by it'))
          .flatMap((w) => (w.fields?.ghosts as unknown[] | undefined) ?? []);
      } finally {
        await third.bus.close();
        await second.bus.close();
      }
    }
    process.stdout.write(
      `ghost consumers cleared after ${trial} trial(s) of ${TRIALS}: ${JSON.stringify(ghosts)}; ` +
        `mailboxes opened again after a stall: ${reopened}; second owners refused while a node was down: ` +
        `${refusedWhileDown}\n`,
    );
    // The premise: some server did keep the consumer of epoch 1 after its deletion, and the bus cleared it.
    expect(ghosts).toEqual([consumerName({ group: 'writer', topic: TOPIC, partition: trial - 1, epoch: 1 })]);
  });
});
