/**
 * `ConfigFeed` following the real config service (over loopback, the configuration in memory): it loads the
 * whole configuration, follows each change, waits for a service not up yet, and after a broken Watch reads the
 * whole configuration again, so a change it could not be told of still reaches its cache.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigServiceClient } from '@throughline/contracts';
import { sleep } from '@throughline/runtime';
import { ConfigCache, ConfigFeed } from '../src/index.js';
import { MemoryConfigRepository, serveConfig, tenant, until, type ServedConfig } from './support.js';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function serve(repo: MemoryConfigRepository, port?: number): Promise<ServedConfig> {
  const served = await serveConfig(repo, port === undefined ? {} : { port });
  closers.push(served.close);
  return served;
}

/** A feed of the service at `port` into a new cache; `started` resolves once the configuration is loaded. */
function follow(port: number) {
  const cache = new ConfigCache();
  const client = new ConfigServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 10,
    'grpc.max_reconnect_backoff_ms': 50,
  });
  const feed = new ConfigFeed({ client, cache, reconnectInitialMs: 10, reconnectMaxMs: 50 });
  closers.push(
    () => client.close(),
    () => feed.stop(),
  );
  const versionOf = (tenantId: string) => cache.current.get(tenantId)?.version;
  return { cache, feed, started: feed.start(), versionOf };
}

describe('ConfigFeed', () => {
  it('loads the whole configuration, then applies each change as it commits', async () => {
    const repo = new MemoryConfigRepository(['a', 'b']);
    const { port } = await serve(repo);
    const { cache, started, versionOf } = follow(port);
    await started;
    expect(cache.current.all().map((c) => [c.tenantId, c.version])).toEqual([
      ['a', 1n],
      ['b', 2n],
    ]);
    await repo.put(tenant('a', 9));
    await until(() => versionOf('a') === 3n, 'the change');
    expect(cache.current.get('a')?.feeBps).toBe(9);
  });

  it('waits for a config service that is not up yet', async () => {
    const repo = new MemoryConfigRepository(['a']);
    const first = await serve(repo);
    await first.close();
    const { started, versionOf } = follow(first.port);
    let loaded = false;
    void started.then(() => (loaded = true));
    await sleep(100);
    expect(loaded).toBe(false);
    await serve(repo, first.port);
    await started;
    expect(versionOf('a')).toBe(1n);
  });

  it('after its Watch broke, gets a change committed meanwhile with a lower version than one it holds', async () => {
    const repo = new MemoryConfigRepository();
    const served = await serve(repo);
    const { started, versionOf } = follow(served.port);
    await started;
    // Versions are drawn before commit: this one is drawn first and committed last, while the Watch is down.
    const late = repo.drawVersion();
    const early = await repo.put(tenant('early'));
    await until(() => versionOf('early') === early.version, 'the early change');
    await served.close();
    repo.commit(tenant('late'), late);
    await serve(repo, served.port);
    await until(() => versionOf('late') === late, 'the late change');
  });

  it('gets a change whose notice was lost once the service says notices may have been missed', async () => {
    const repo = new MemoryConfigRepository();
    const { port, changes } = await serve(repo);
    const { started, versionOf } = follow(port);
    await started;
    await until(() => repo.lists === 2 && changes.listenerCount('change') === 1, 'the Watch');
    repo.listening = false;
    const missed = await repo.put(tenant('missed'));
    await sleep(100);
    expect(versionOf('missed')).toBeUndefined();
    repo.resync();
    await until(() => versionOf('missed') === missed.version, 'the missed change');
  });

  it('applies nothing once stopped', async () => {
    const repo = new MemoryConfigRepository();
    const { port } = await serve(repo);
    const { feed, started, versionOf } = follow(port);
    await started;
    await until(() => repo.lists === 2, 'the Watch');
    await feed.stop();
    await repo.put(tenant('after'));
    await sleep(100);
    expect(versionOf('after')).toBeUndefined();
  });
});
