/**
 * The config service over real gRPC on loopback and a configuration in memory: a Watch stream's snapshot, marker and
 * changes in order and once each, held while the snapshot is on its way, ended when notices may have been lost;
 * Get, List and Put with their statuses.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ConfigServiceClient,
  type ConfigChange,
  type ListConfigsResponse,
  type TenantConfig,
} from '@throughline/contracts';
import type { CallCredentials, PutAuthorization, TenantConfigInput } from '../src/index.js';
import { MemoryConfigRepository, serveConfig, tenant, until } from './support.js';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function serve(
  repo: MemoryConfigRepository,
  authorizePut?: (call: CallCredentials) => PutAuthorization,
) {
  const served = await serveConfig(repo, authorizePut ? { authorizePut } : {});
  const client = new ConfigServiceClient(`127.0.0.1:${served.port}`, grpc.credentials.createInsecure());
  closers.push(served.close, () => client.close());
  return { client, changes: served.changes };
}

/** A Watch stream's messages as `tenant@version` (the marker as `marker`), and how it ended. */
function watch(client: ConfigServiceClient, afterVersion = 0n) {
  const got: string[] = [];
  const state: { ended?: grpc.ServiceError | 'end' } = {};
  const call = client.watch({ afterVersion });
  call.on('data', (c: ConfigChange) =>
    got.push(c.config === undefined ? 'marker' : `${c.config.tenantId}@${c.config.version}`),
  );
  call.on('error', (err: grpc.ServiceError) => (state.ended = err));
  call.on('end', () => (state.ended ??= 'end'));
  closers.push(() => call.cancel());
  return { got, state, cancel: () => call.cancel() };
}

/** A unary call's answer, or its error. */
const answer = <Res>(invoke: (cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown) =>
  new Promise<Res>((resolve, reject) => invoke((err, res) => (err ? reject(err) : resolve(res))));

describe('config Watch', () => {
  it('sends the configurations newer than asked for, a marker, then each change as it commits', async () => {
    const repo = new MemoryConfigRepository(['a', 'b', 'c']);
    const { client } = await serve(repo);
    const stream = watch(client, 1n);
    await until(() => stream.got.includes('marker'), 'the snapshot');
    await repo.put(tenant('a', 2));
    await until(() => stream.got.length === 4, 'the change');
    expect(stream.got).toEqual(['b@2', 'c@3', 'marker', 'a@4']);
  });

  it('holds the changes that commit while its snapshot is on the way and sends them after the marker', async () => {
    const repo = new MemoryConfigRepository(['a']);
    const { client } = await serve(repo);
    const release = repo.hold();
    const stream = watch(client);
    await until(() => repo.lists === 1, 'the snapshot read');
    await repo.put(tenant('b'));
    await repo.put(tenant('a', 5));
    release();
    await until(() => stream.got.length === 4, 'snapshot and changes');
    expect(stream.got).toEqual(['a@1', 'marker', 'b@2', 'a@3']);
  });

  it('sends a version once, however many notices name it', async () => {
    const repo = new MemoryConfigRepository();
    const { client } = await serve(repo);
    const stream = watch(client);
    await until(() => stream.got.includes('marker'), 'the snapshot');
    // Both notices are read after the second commit: each reads version 2.
    await Promise.all([repo.put(tenant('a')), repo.put(tenant('a', 7))]);
    await repo.put(tenant('b'));
    await until(() => stream.got.includes('b@3'), 'the last change');
    expect(stream.got).toEqual(['marker', 'a@2', 'b@3']);
  });

  it('ends every stream with UNAVAILABLE when notices may have been lost, one still sending its snapshot after it', async () => {
    const repo = new MemoryConfigRepository(['a']);
    const { client, changes } = await serve(repo);
    const following = watch(client);
    await until(() => following.got.includes('marker'), 'the first snapshot');
    const release = repo.hold();
    const starting = watch(client);
    await until(() => repo.lists === 2, 'the second snapshot read');

    repo.listening = false;
    await repo.put(tenant('missed'));
    repo.resync();
    await until(() => following.state.ended !== undefined, 'the first stream ending');
    expect(following.state.ended).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(following.got).toEqual(['a@1', 'marker']);
    expect(starting.state.ended).toBeUndefined();

    release();
    await until(() => starting.state.ended !== undefined, 'the second stream ending');
    expect(starting.got).toEqual(['a@1', 'marker']);
    expect(starting.state.ended).toMatchObject({ code: grpc.status.UNAVAILABLE });
    await until(() => changes.listenerCount('change') === 0, 'the streams unsubscribing');
  });

  it('ends a stream with UNAVAILABLE when its snapshot or a changed configuration cannot be read', async () => {
    const repo = new MemoryConfigRepository();
    const { client } = await serve(repo);
    const following = watch(client);
    await until(() => following.got.includes('marker'), 'the snapshot');
    repo.failing.get = new Error('connection terminated');
    repo.failing.list = new Error('connection refused');
    const starting = watch(client);
    await repo.put(tenant('a'));
    await until(() => following.state.ended !== undefined, 'the first stream ending');
    expect(following.state.ended).toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: 'reading a changed configuration failed: connection terminated',
    });
    expect(following.got).toEqual(['marker']);
    await until(() => starting.state.ended !== undefined, 'the second stream ending');
    expect(starting.state.ended).toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: 'reading the configuration failed: connection refused',
    });
    expect(starting.got).toEqual([]);
  });

  it('stops following the changes for a stream its client cancelled', async () => {
    const repo = new MemoryConfigRepository();
    const { client, changes } = await serve(repo);
    const stream = watch(client);
    await until(() => stream.got.includes('marker'), 'the snapshot');
    expect(changes.listenerCount('change')).toBe(1);
    stream.cancel();
    await until(() => changes.listenerCount('change') === 0, 'the stream unsubscribing');
    expect(changes.listenerCount('resync')).toBe(0);
  });
});

describe('config Get, List and Put', () => {
  it('gets a tenant or NOT_FOUND, and lists every tenant with the largest version', async () => {
    const repo = new MemoryConfigRepository(['a', 'b']);
    const { client } = await serve(repo);
    expect(await answer<TenantConfig>((cb) => client.get({ tenantId: 'b' }, cb))).toMatchObject({
      tenantId: 'b',
      version: 2n,
    });
    await expect(answer<TenantConfig>((cb) => client.get({ tenantId: 'z' }, cb))).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
      details: 'no configuration for tenant "z"',
    });
    const list = await answer<ListConfigsResponse>((cb) => client.list({}, cb));
    expect([list.configs.map((c) => c.tenantId), list.version]).toEqual([['a', 'b'], 2n]);
  });

  it('stores a change with who made it, the version its own', async () => {
    const repo = new MemoryConfigRepository();
    const seen: CallCredentials[] = [];
    const { client } = await serve(repo, (call) => {
      seen.push(call);
      return { ok: true, by: 'token:ops' };
    });
    const config: TenantConfig = { ...tenant('a'), version: 99n, updatedAtMs: 5n };
    const metadata = new grpc.Metadata();
    metadata.set('authorization', 'Bearer x');
    const stored = await answer<TenantConfig>((cb) => client.put({ config }, metadata, cb));
    expect(stored.version).toBe(1n);
    expect(repo.changedBy.get(1n)).toBe('token:ops');
    expect(seen[0]!.metadata.get('authorization')).toEqual(['Bearer x']);
    expect(seen[0]!.clientName).toBeUndefined();
    expect(seen[0]!.peer).toMatch(/127\.0\.0\.1/);
  });

  const onTheWire = (input: TenantConfigInput): TenantConfig => ({ ...input, version: 0n, updatedAtMs: 0n });
  const refusals: {
    what: string;
    config?: TenantConfig;
    admin: boolean;
    failing?: Error;
    status: Partial<grpc.StatusObject>;
  }[] = [
    {
      what: 'a request without a configuration',
      admin: true,
      status: { code: grpc.status.INVALID_ARGUMENT, details: 'config: is required' },
    },
    {
      what: 'a caller the authorizer refuses',
      config: onTheWire(tenant('a')),
      admin: false,
      status: { code: grpc.status.PERMISSION_DENIED, details: 'not an admin' },
    },
    {
      what: 'a configuration the repository finds invalid',
      config: onTheWire({ ...tenant('a'), baseCurrency: 'euro' }),
      admin: true,
      status: {
        code: grpc.status.INVALID_ARGUMENT,
        details: 'tenant config "a": base_currency must be 3 capitals',
      },
    },
    {
      what: 'a change the repository fails to store',
      config: onTheWire(tenant('a')),
      admin: true,
      failing: new Error('connection refused'),
      status: { code: grpc.status.UNAVAILABLE, details: 'connection refused' },
    },
  ];
  it.each(refusals)('refuses $what, storing nothing', async ({ config, admin, failing, status }) => {
    const repo = new MemoryConfigRepository();
    if (failing) repo.failing.put = failing;
    const { client } = await serve(repo, (call) =>
      call.metadata.get('authorization').length > 0
        ? { ok: true, by: 'admin' }
        : { ok: false, status: { code: grpc.status.PERMISSION_DENIED, details: 'not an admin' } },
    );
    const metadata = new grpc.Metadata();
    if (admin) metadata.set('authorization', 'Bearer admin');
    await expect(answer((cb) => client.put({ config }, metadata, cb))).rejects.toMatchObject(status);
    expect(repo.configs.size).toBe(0);
  });
});
