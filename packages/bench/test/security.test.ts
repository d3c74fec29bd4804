/**
 * The security benchmark compares what it says it compares: the secured servers refuse what is not secured, and
 * both runs carry every event exactly once.
 */
import { connect } from 'node:net';
import { expect, it } from 'vitest';
import { connectJetStreamBus } from '@throughline/bus';
import pg from 'pg';
import { runSecurity, SIZES, startSecuredServers, workload } from '../src/index.js';

it('secured servers refuse a client without credentials or TLS', async () => {
  const servers = await startSecuredServers();
  try {
    // NATS: no user, no client certificate.
    await expect(
      connectJetStreamBus({ servers: servers.natsUrl, connectTimeoutMs: 3_000 }),
    ).rejects.toThrow();
    // Redis: TLS only — a plaintext PING gets no reply but a closed connection.
    const port = Number(new URL(servers.redisUrl).port);
    const reply = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
      socket.setTimeout(3_000, () => socket.destroy());
    });
    expect(reply).not.toContain('PONG');
    // PostgreSQL: the services' role without SSL is refused.
    const url = new URL(servers.security.appEnv.writer!.DATABASE_URL!);
    url.search = '?sslmode=disable';
    const client = new pg.Client({ connectionString: url.toString(), password: 'irrelevant' });
    await expect(client.connect()).rejects.toThrow(/no encryption/);
    expect(servers.security.appEnv.ingest).toMatchObject({
      INGEST_AUTH_OPEN: 'false',
      GRPC_PLAINTEXT: 'false',
    });
  } finally {
    await servers.stop();
  }
});

it('runs the same events plaintext and with every hop secured, each exactly once', async () => {
  const events = workload(SIZES.small.securityEvents / 4);
  const report = await runSecurity(SIZES.small, events, { rounds: 1 });
  const { plaintext, secured } = report.rounds[0]!;
  for (const row of [plaintext, secured]) {
    expect(row.committed).toBe(events.length);
    expect(row.verified).toBe(true);
  }
  expect(report.ratio).toBeCloseTo(secured.eventsPerSecond / plaintext.eventsPerSecond, 6);
});
