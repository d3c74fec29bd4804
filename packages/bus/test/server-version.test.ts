import {
  natsServerAtLeast,
  natsServerVersion,
  startNats,
  startNatsCluster,
  type NatsClusterHandle,
  type NatsHandle,
} from '@throughline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BusErrorCode, connectJetStreamBus, isBusError } from '../src/index.js';
import { createServer, type Server, type Socket } from 'node:net';
import { parseServerVersion, peerVersions, replicasAreSafeOn } from '../src/jetstream/server-version.js';

describe('which nats-server may keep more than one copy', () => {
  it('reads server versions, and takes 2.10 and later as safe', () => {
    expect(parseServerVersion('2.9.10')).toEqual([2, 9, 10]);
    expect(parseServerVersion('v2.10.27-beta.1')).toEqual([2, 10, 27]);
    expect(parseServerVersion('nonsense')).toBeUndefined();
    expect(replicasAreSafeOn('2.9.10')).toBe(false);
    expect(replicasAreSafeOn('2.9.25')).toBe(false);
    expect(replicasAreSafeOn('2.10.0')).toBe(true);
    expect(replicasAreSafeOn('2.15.1')).toBe(true);
    expect(replicasAreSafeOn('3.0.0')).toBe(true);
    // A server that does not say is not refused for it.
    expect(replicasAreSafeOn(undefined)).toBe(true);
  });
});

describe('the version each peer greets a client with', () => {
  const servers: Server[] = [];
  const listen = async (onConnection: (socket: Socket) => void): Promise<string> => {
    const server = createServer(onConnection);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return `127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  };
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('reads an INFO line, and answers nothing (never hangs) for a peer that closes, trickles or is not there', async () => {
    const info = await listen((socket) => socket.end('INFO {"server_id":"x","version":"2.9.10"}\r\n'));
    const closes = await listen((socket) => socket.end('INFO {"vers'));
    const trickles = await listen((socket) => {
      const timer = setInterval(() => socket.write('I'), 100);
      socket.on('close', () => clearInterval(timer));
      socket.on('error', () => clearInterval(timer));
    });
    const notNats = await listen((socket) => socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    const started = Date.now();
    const versions = await peerVersions(
      [info, closes, trickles, notNats, '127.0.0.1:99999', 'nonsense'],
      1_000,
    );
    expect(versions.map((v) => v.version)).toEqual([
      '2.9.10',
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    // The trickling peer is given up at the deadline, not kept alive by its bytes.
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('three copies on the nats-server this machine has', () => {
  let nats: NatsHandle;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('are refused on 2.9 with why and what to do, accepted when told, and one copy always works', async () => {
    const warnings: string[] = [];
    const connectWith = (settings: { streamReplicas: number; acceptNats29Replicas?: boolean }) =>
      connectJetStreamBus({
        servers: nats.url,
        settings,
        logger: { info: () => undefined, warn: (m) => void warnings.push(m), error: () => undefined },
      });
    const probe = await connectWith({ streamReplicas: 1 });
    try {
      await probe.ensureTopology();
    } finally {
      await probe.close();
    }
    const three = await connectWith({ streamReplicas: 3 });
    try {
      const refused: unknown = await three.ensureTopology().catch((e: unknown) => e);
      const version = await serverVersion(nats.url);
      if (replicasAreSafeOn(version)) {
        // A newer server: nothing to refuse (one server cannot hold three copies, which JetStream says itself).
        expect(isBusError(refused, BusErrorCode.unsupportedServer)).toBe(false);
        return;
      }
      expect(isBusError(refused, BusErrorCode.unsupportedServer)).toBe(true);
      expect(String(refused)).toContain(`nats-server ${version}`);
      expect(String(refused)).toContain('BUS_ACCEPT_NATS_2_9_REPLICAS=true');
    } finally {
      await three.close();
    }
    const accepted = await connectWith({ streamReplicas: 3, acceptNats29Replicas: true });
    try {
      // Accepted: past the check, to what one server can do (it cannot hold three copies).
      const err: unknown = await accepted.ensureTopology().catch((e: unknown) => e);
      expect(isBusError(err, BusErrorCode.unsupportedServer)).toBe(false);
      expect(warnings.some((w) => w.includes('copies of each stream accepted'))).toBe(true);
    } finally {
      await accepted.close();
    }
  });
});

async function serverVersion(url: string): Promise<string | undefined> {
  const { connect } = await import('@nats-io/transport-node');
  const nc = await connect({ servers: url });
  try {
    return nc.info?.version;
  } finally {
    await nc.close();
  }
}

describe('a cluster in the middle of an upgrade', () => {
  let cluster: NatsClusterHandle;
  let oldVersion: string;
  beforeAll(async () => {
    // Two nodes of 2.10 or newer and one of the machine's own nats-server (2.9.10 on the machines this runs on).
    const newer = await natsServerAtLeast('2.10');
    const own = await natsServerAtLeast('0.0');
    oldVersion = await natsServerVersion(own);
    cluster = await startNatsCluster({ binaries: [newer, newer, own] });
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('refuses three copies while any node it can reach runs a server that loses them, and names that node', async () => {
    const bus = await connectJetStreamBus({
      servers: cluster.node('n1').url,
      settings: { streamReplicas: 3 },
    });
    try {
      const refused: unknown = await bus.ensureTopology().catch((e: unknown) => e);
      if (replicasAreSafeOn(oldVersion)) {
        // The machine's own server is new enough: the whole cluster is, and nothing is refused for it.
        expect(isBusError(refused, BusErrorCode.unsupportedServer)).toBe(false);
        return;
      }
      expect(isBusError(refused, BusErrorCode.unsupportedServer)).toBe(true);
      // Connected to a new node, refused for the old one it advertises.
      expect(String(refused)).toContain(`127.0.0.1:${cluster.node('n3').port} runs ${oldVersion}`);
      expect(String(refused)).toContain('on every node');
    } finally {
      await bus.close();
    }
  });
});
