/**
 * The floor: the same work with no throughline code on the path. Before the clock starts, the events are taken
 * through the ledger domain once (enrich, apply) to get the bytes each hop of the pipeline carries — the ingested
 * `EventBatch`, the `EnrichedBatch`, the `ResultBatch` — in batches of 1,000. Timed: the ingested batches are
 * published to JetStream; a relay consumes each hop and publishes the next hop's bytes (ack after the publish is
 * acknowledged), twice; the last consumer decodes the `ResultBatch` and commits its rows into the migrated schema
 * (ledger rows `ON CONFLICT DO NOTHING`, each account's last balance upserted) in one statement per batch: the
 * writer's own statement (`COMMIT_SQL`) with the same binary array parameters (`commitParameters`). The floor shares
 * the codecs with the pipeline (the generated protobuf codecs, the parameter encoding) as it shares the servers, so
 * the share of the floor measures the pipeline's design, not its encoders: what the components cost by themselves
 * for the same bytes and rows.
 */
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import {
  EnrichedBatch,
  EventBatch,
  ResultBatch,
  type Event,
  type TenantConfig,
  partitionOf,
} from '@throughline/contracts';
import { applyEvent, EMPTY_ACCOUNT, enrichEvent, type AccountState } from '@throughline/ledger';
import { COMMIT_SQL, commitParameters, createTenantConfigRepository, migrate } from '@throughline/stores';
import { treeCpuSeconds, selfCpuSeconds } from '../cpu.js';
import { startServers } from '../stack.js';

export interface FloorRow {
  label: string;
  events: number;
  /** Ledger rows in the database after the run (every event once). */
  committed: number;
  seconds: number;
  eventsPerSecond: number;
  cpuSecondsPer1k: number;
}

const HOPS = ['floor_a', 'floor_b', 'floor_c'] as const;
const BATCH = 1000;
const PARTITIONS = 8;

/**
 * The bytes of every hop, batch by batch, as the pipeline would carry them (computed off the clock): the events
 * split by account into the pipeline's partitions, in batches of up to 1,000 per partition.
 */
function hopBytes(events: Event[], configs: Map<string, TenantConfig>) {
  const byPartition: Event[][] = Array.from({ length: PARTITIONS }, () => []);
  for (const e of events) byPartition[partitionOf(e.accountId, PARTITIONS)]!.push(e);
  const ingested: Uint8Array[] = [];
  const enriched: Uint8Array[] = [];
  const applied: Uint8Array[] = [];
  const accounts = new Map<string, AccountState>();
  const acceptedAtMs = BigInt(Date.now());
  let position = 0n;
  for (const [partition, list] of byPartition.entries()) {
    for (let i = 0; i < list.length; i += BATCH) {
      const batch = list.slice(i, i + BATCH);
      const batchId = `f${partition}-${i}`;
      ingested.push(
        EventBatch.encode({ batchId, partition, events: batch, acceptedAtMs, redrivenFrom: [] }).finish(),
      );
      const enrichedEvents = batch.map((e) =>
        enrichEvent(e, ++position, acceptedAtMs, configs.get(e.tenantId)),
      );
      enriched.push(
        EnrichedBatch.encode({
          batchId,
          partition,
          configVersion: 1n,
          events: enrichedEvents,
          producerEpoch: 1n,
        }).finish(),
      );
      const results = enrichedEvents.map((e) => {
        const decision = applyEvent(accounts.get(e.event!.accountId) ?? EMPTY_ACCOUNT, e);
        accounts.set(e.event!.accountId, decision.state);
        return decision.result;
      });
      applied.push(ResultBatch.encode({ batchId, partition, results, producerEpoch: 1n }).finish());
    }
  }
  return [ingested, enriched, applied] as const;
}

export async function runFloor(events: Event[]): Promise<FloorRow> {
  const servers = await startServers();
  const nc = await connect({ servers: servers.natsUrl, noAsyncTraces: true });
  const pool = new pg.Pool({ connectionString: servers.databaseUrl, max: PARTITIONS });
  // An idle connection dies when the run stops its PostgreSQL: expected, not a failure.
  pool.on('error', () => undefined);
  try {
    const jsm = await jetstreamManager(nc);
    for (const name of HOPS) {
      await jsm.streams.add({ name, subjects: [name] });
      await jsm.consumers.add(name, { durable_name: 'c', ack_policy: AckPolicy.Explicit });
    }
    await migrate(pool);
    const repository = createTenantConfigRepository(pool);
    await repository.seedDemoTenants();
    const configs = new Map((await repository.list()).configs.map((c) => [c.tenantId, c]));
    const js = jetstream(nc);
    const hops = hopBytes(events, configs);
    const batches = hops[0];

    const cpuBefore = treeCpuSeconds(servers.pids) + selfCpuSeconds();
    const started = performance.now();
    // Hops a→b and b→c: consume, publish the next hop's bytes (up to 64 publishes in flight, in order on one
    // connection), ack each message once its publish is acknowledged.
    const relays = [0, 1].map(async (h) => {
      const consumer = await js.consumers.get(HOPS[h]!, 'c');
      const messages = await consumer.consume({ max_messages: 64 });
      const inFlight: Promise<void>[] = [];
      let seen = 0;
      for await (const m of messages) {
        // The next hop's bytes for this batch (the stream's sequence numbers the batches from 1).
        const data = hops[h + 1]![m.seq - 1]!;
        inFlight.push(js.publish(HOPS[h + 1]!, data, { msgID: `${h}-${m.seq}` }).then(() => m.ack()));
        if (inFlight.length >= 64) await inFlight.shift();
        if (++seen === batches.length) break;
      }
      await Promise.all(inFlight);
    });
    // The sink: one commit chain per partition (the partitions' accounts are disjoint, so commits run side by side
    // without lock conflicts, in order within a partition), each message acked after its commit.
    const sink = (async () => {
      const consumer = await js.consumers.get(HOPS[2], 'c');
      const messages = await consumer.consume({ max_messages: 64 });
      const chains = new Map<number, Promise<void>>();
      let seen = 0;
      for await (const m of messages) {
        const batch = ResultBatch.decode(m.data);
        const commit = async () => {
          await pool.query({
            name: 'floor_commit',
            text: COMMIT_SQL,
            values: commitParameters([
              { fence: { partition: batch.partition, epoch: 1, upstream: 1 }, results: batch.results },
            ]),
          });
          m.ack();
        };
        chains.set(batch.partition, (chains.get(batch.partition) ?? Promise.resolve()).then(commit));
        if (++seen === batches.length) break;
      }
      await Promise.all(chains.values());
    })();
    await Promise.all(batches.map((data, i) => js.publish(HOPS[0], data, { msgID: `in-${i}` })));
    await Promise.all([...relays, sink]);
    const seconds = (performance.now() - started) / 1000;
    const cpu = treeCpuSeconds(servers.pids) + selfCpuSeconds() - cpuBefore;
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger');
    return {
      label: 'floor: JetStream ×3 hops (the same bytes) + batched idempotent commit of the same rows',
      events: events.length,
      committed: rows[0]?.n ?? 0,
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
