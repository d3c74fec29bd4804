/**
 * The replication benchmark compares what it says it compares: its replicated servers are a three-node cluster on
 * which the services keep three copies of every stream, and both runs carry every event exactly once.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { expect, it } from 'vitest';
import { connectJetStreamBus } from '@throughline/bus';
import { subjects } from '@throughline/contracts';
import { runReplication, SIZES, startReplicatedServers, workload } from '../src/index.js';

it('replicated servers are three NATS nodes, and the services are told to keep three copies', async () => {
  const servers = await startReplicatedServers();
  try {
    expect(Object.keys(servers.pidsByName).filter((n) => n.startsWith('nats-'))).toHaveLength(3);
    // Three copies need nats-server 2.10 or newer: the cluster runs one, and the services are not told to accept less.
    expect(servers.env).toEqual({ BUS_STREAM_REPLICAS: '3' });
    const bus = await connectJetStreamBus({
      servers: servers.natsUrl,
      settings: { streamReplicas: Number(servers.env!.BUS_STREAM_REPLICAS) },
    });
    await bus.ensureTopology();
    await bus.close();
    const nc = await connect({ servers: servers.natsUrl.split(',') });
    const info = await (await jetstreamManager(nc)).streams.info(subjects.stream('ingested'));
    await nc.close();
    expect(info.cluster?.replicas).toHaveLength(2);
  } finally {
    await servers.stop();
  }
});

it('runs the same events with one copy on one server and with three on a cluster, each exactly once', async () => {
  const events = workload(SIZES.small.replicationEvents / 4);
  const report = await runReplication(SIZES.small, events, { rounds: 1 });
  const { single, replicated } = report.rounds[0]!;
  for (const row of [single, replicated]) {
    expect(row.committed).toBe(events.length);
    expect(row.verified).toBe(true);
  }
  expect(report.ratio).toBeCloseTo(replicated.eventsPerSecond / single.eventsPerSecond, 6);
});
