/**
 * The five services with every hop secured as the shipped configurations say: NATS with mutual TLS and one user
 * per service holding its least-privilege permissions (deploy/nats/sample-server.conf, permissions.conf); Redis
 * over TLS only, verifying client certificates, the state service logged in as the ACL user of
 * deploy/redis/users.acl; PostgreSQL refusing the services' roles without SSL, the services verifying it
 * (`sslmode=verify-full`), each of writer, state and config logged in as its own least-privilege role, made by the
 * migration run as the chart's Job makes them. Each service connects with its settings (files, as from mounted Secrets) and events flow
 * exactly once; what a service's NATS user may not do is refused by the server: publishing another stage's topic (a
 * forged result on `tl.applied.*`), acknowledging another stage's messages, deleting or purging a stream, writing a
 * client credential. A client without credentials is refused, and no log holds a password.
 */
import { readFileSync } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusErrorCode, connectJetStreamBus, isBusError, type NatsAuth } from '@throughline/bus';
import { subjects } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { expectExactlyOnce } from './exactly-once.js';
import { sendEvents, startStack, type Stack } from './stack.js';

describe('the services with every hop secured: NATS users of least privilege, Redis TLS and ACL, PostgreSQL SSL and roles', () => {
  let stack: Stack;
  const connections: NatsConnection[] = [];

  /** A raw NATS connection as `user` (to try what the bus would never do). */
  async function as(user: string): Promise<NatsConnection> {
    const auth: NatsAuth = stack.natsUsers![user]!;
    const nc = await connect({
      servers: stack.nats.url,
      user,
      pass: readFileSync(auth.passwordFile!, 'utf8').trim(),
      tls: { caFile: auth.tlsCaFile!, certFile: auth.tlsCertFile!, keyFile: auth.tlsKeyFile! },
    });
    connections.push(nc);
    return nc;
  }

  beforeAll(async () => {
    stack = await startStack({
      partitions: 4,
      stateInstances: 1,
      writerInstances: 1,
      natsSecured: true,
      redisSecured: true,
      databaseSsl: true,
      databaseRoles: true,
    });
  });
  afterAll(async () => {
    await Promise.all(connections.map((nc) => nc.close()));
    await stack?.stop();
  });

  it('connects every service as its own user, over TLS to each server; events flow exactly once, and no service hit a permission', async () => {
    const events = new LedgerWorkload({ accounts: 500, tenants: 5, seed: 71, idPrefix: 'nats-auth' }).take(
      5_000,
    );
    // The services' connections, sampled while they work (an idle pool closes its connections after 10 s).
    const seen = new Map<string, { connections: number; plaintext: number }>();
    const sample = async (): Promise<void> => {
      const { rows } = await stack.pool.query<{ role: string; total: number; plaintext: number }>(
        `SELECT a.usename AS role, count(*)::int AS total, count(*) FILTER (WHERE NOT s.ssl)::int AS plaintext
           FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename LIKE 'tl\\_%' GROUP BY a.usename`,
      );
      for (const r of rows) {
        const was = seen.get(r.role) ?? { connections: 0, plaintext: 0 };
        seen.set(r.role, {
          connections: Math.max(was.connections, r.total),
          plaintext: was.plaintext + r.plaintext,
        });
      }
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample();
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await sendEvents(stack.ingest, events, { batchSize: 500, concurrency: 2 });
      await expectExactlyOnce(
        stack,
        events.map((e) => e.eventId),
      );
    } finally {
      sampling = false;
      await sampler;
    }
    // Each service logged in as its own least-privilege role, every connection encrypted; none as the owner.
    expect([...seen.keys()].sort()).toEqual(['tl_config', 'tl_state', 'tl_writer']);
    for (const [role, s] of seen) {
      expect(s.connections, role).toBeGreaterThan(0);
      expect(s.plaintext, role).toBe(0);
    }
    // nats-server logs each refusal; none of the services' own requests was one.
    expect(stack.nats.output()).not.toMatch(/(Publish|Subscription) Violation/);

    const anonymous = await connectJetStreamBus({ servers: stack.nats.url, connectTimeoutMs: 3_000 }).catch(
      (e: unknown) => e,
    );
    expect(isBusError(anonymous, BusErrorCode.connectFailed)).toBe(true);

    const secrets = [
      ...Object.values(stack.natsUsers!).map((auth) => readFileSync(auth.passwordFile!, 'utf8').trim()),
      readFileSync(stack.databaseRole!.passwordFile, 'utf8').trim(),
      ...Object.values(stack.serviceRoles!).map((r) => readFileSync(r.passwordFile, 'utf8').trim()),
      String(stack.redisOptions.password),
    ];
    for (const secret of secrets)
      for (const [name, service] of stack.services) expect(service.output(), name).not.toContain(secret);
  });

  it('refuses a forged result on tl.applied.* from any user but state, and a forged batch from any but ingest', async () => {
    for (const user of ['ingest', 'enrich', 'writer']) {
      const js = jetstream(await as(user), { timeout: 3_000 });
      const err = await js.publish(subjects.of('applied', 0), new Uint8Array([1])).catch((e: unknown) => e);
      expect(String(err), user).toMatch(/permissions violation/i);
    }
    for (const user of ['enrich', 'state', 'writer']) {
      const js = jetstream(await as(user), { timeout: 3_000 });
      const err = await js.publish(subjects.of('ingested', 0), new Uint8Array([1])).catch((e: unknown) => e);
      expect(String(err), user).toMatch(/permissions violation/i);
    }
    // Nothing forged reached a stream: the applied topic holds nothing but what the writer has not consumed.
    const backlog = await stack.bus.topicBacklog('applied');
    expect(backlog).toBe(0);
  });

  it('refuses deleting or purging a stream, acknowledging another stage, and writing a client credential', async () => {
    for (const user of ['ingest', 'enrich', 'state', 'writer']) {
      const nc = await as(user);
      const jsm = await jetstreamManager(nc, { timeout: 3_000, checkAPI: false });
      const deleted = await jsm.streams.delete(subjects.stream('applied')).catch((e: unknown) => e);
      expect(String(deleted), user).toMatch(/permissions violation/i);
      const purged = await jsm.streams.purge(subjects.stream('ingested')).catch((e: unknown) => e);
      expect(String(purged), user).toMatch(/permissions violation/i);
      const client = await nc
        .request('$KV.tl_clients.client.mallory', new Uint8Array([1]), { timeout: 3_000 })
        .catch((e: unknown) => e);
      expect(String(client), user).toMatch(/permissions violation/i);
    }
    const ack = await (
      await as('enrich')
    )
      .request('$JS.ACK.TL_APPLIED.writer-0.1.1.1.1.1.1', new Uint8Array(), { timeout: 3_000 })
      .catch((e: unknown) => e);
    expect(String(ack)).toMatch(/permissions violation/i);
    // The streams are all still there, and the refusals are in the server's log.
    const jsm = await jetstreamManager(await as('operator'), { timeout: 3_000 });
    for (const topic of ['ingested', 'enriched', 'applied'] as const)
      expect((await jsm.streams.info(subjects.stream(topic))).config.name).toBe(subjects.stream(topic));
    expect(stack.nats.output()).toMatch(/Publish Violation - User "enrich", Subject "tl.applied.0"/);
  });
});
