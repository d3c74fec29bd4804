/**
 * The floor: the same bytes over the same hops with no throughline code — batches of 1,000 encoded events published
 * to JetStream, consumed and republished twice (the enrich and state hops), consumed once more and inserted into
 * PostgreSQL as the same rows, idempotently, one multi-row INSERT per batch. What the components cost by themselves.
 */
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { EventBatch, type Event } from '@throughline/contracts';
import { treeCpuSeconds, selfCpuSeconds } from '../cpu.js';
import { startServers } from '../stack.js';

export interface FloorRow {
  label: string;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  cpuSecondsPer1k: number;
}

const HOPS = ['floor_a', 'floor_b', 'floor_c'] as const;
const BATCH = 1000;

const CREATE_SQL = `CREATE TABLE floor_ledger (
  event_id text PRIMARY KEY, account_id text NOT NULL, tenant_id text NOT NULL, direction int NOT NULL,
  amount_minor bigint NOT NULL, currency text NOT NULL, occurred_ms bigint NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now())`;
const INSERT_SQL = `INSERT INTO floor_ledger (event_id, account_id, tenant_id, direction, amount_minor, currency, occurred_ms)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int8[], $6::text[], $7::int8[])
  ON CONFLICT (event_id) DO NOTHING`;

export async function runFloor(events: Event[]): Promise<FloorRow> {
  const servers = await startServers();
  const nc = await connect({ servers: servers.natsUrl, noAsyncTraces: true });
  const pool = new pg.Pool({ connectionString: servers.databaseUrl, max: 4 });
  // An idle connection dies when the run stops its PostgreSQL: expected, not a failure.
  pool.on('error', () => undefined);
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of HOPS) {
      await jsm.streams.add({ name, subjects: [name] });
      await jsm.consumers.add(name, { durable_name: 'c', ack_policy: AckPolicy.Explicit });
    }
    await pool.query(CREATE_SQL);
    const js = jetstream(nc);
    const batches: Uint8Array[] = [];
    for (let i = 0; i < events.length; i += BATCH)
      batches.push(
        EventBatch.encode({
          batchId: `f${i}`,
          partition: 0,
          events: events.slice(i, i + BATCH),
          acceptedAtMs: 0n,
        }).finish(),
      );

    const cpuBefore = treeCpuSeconds(servers.pids) + selfCpuSeconds();
    const started = performance.now();
    // Hops a→b and b→c: consume, republish the same bytes, ack after the publish is acknowledged.
    const relays = [0, 1].map(async (h) => {
      const consumer = await js.consumers.get(HOPS[h]!, 'c');
      const messages = await consumer.consume({ max_messages: 64 });
      let seen = 0;
      for await (const m of messages) {
        await js.publish(HOPS[h + 1]!, m.data, { msgID: `${h}-${m.seq}` });
        m.ack();
        if (++seen === batches.length) break;
      }
    });
    const sink = (async () => {
      const consumer = await js.consumers.get(HOPS[2], 'c');
      const messages = await consumer.consume({ max_messages: 64 });
      let seen = 0;
      for await (const m of messages) {
        const batch = EventBatch.decode(m.data);
        const cols: unknown[][] = [[], [], [], [], [], [], []];
        for (const e of batch.events) {
          cols[0]!.push(e.eventId);
          cols[1]!.push(e.accountId);
          cols[2]!.push(e.tenantId);
          cols[3]!.push(e.direction);
          cols[4]!.push(e.amountMinor.toString());
          cols[5]!.push(e.currency);
          cols[6]!.push(String(e.occurredAtMs));
        }
        await pool.query(INSERT_SQL, cols);
        m.ack();
        if (++seen === batches.length) break;
      }
    })();
    await Promise.all(batches.map((data, i) => js.publish(HOPS[0], data, { msgID: `in-${i}` })));
    await Promise.all([...relays, sink]);
    const seconds = (performance.now() - started) / 1000;
    const cpu = treeCpuSeconds(servers.pids) + selfCpuSeconds() - cpuBefore;
    return {
      label: 'floor: JetStream ×3 hops + batched idempotent INSERT',
      events: events.length,
      seconds,
      eventsPerSecond: events.length / seconds,
      cpuSecondsPer1k: (cpu * 1000) / events.length,
    };
  } finally {
    await nc.close();
    await pool.end();
    await servers.stop();
  }
}
