import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { createMemoryBus } from '@throughline/bus';
import {
  clientKey,
  decodeClientRecord,
  encodeClientRecord,
  IngestClientDirectory,
  newClientToken,
  tenantRefusal,
} from '../src/index.js';
import { tokenSha256 } from '@throughline/bus';

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('client records', () => {
  it('decode what `clients create` writes, and say what is wrong with anything else', () => {
    const { token, sha256 } = newClientToken();
    expect(token).toMatch(/^tlc_[A-Za-z0-9_-]{43}$/);
    expect(sha256).toBe(tokenSha256(token));
    const record = { tokenSha256: sha256, certificate: false, tenants: ['t-1'], createdAtMs: 5 };
    expect(decodeClientRecord(encodeClientRecord(record))).toEqual(record);
    expect(decodeClientRecord(new TextEncoder().encode('{'))).toBe('not JSON');
    expect(decodeClientRecord(bytes({ ...record, tokenSha256: 'abc' }))).toBe(
      'tokenSha256 is not 64 hex digits',
    );
    expect(decodeClientRecord(bytes({ certificate: false, tenants: ['t'] }))).toBe(
      'neither a token nor a certificate',
    );
    expect(decodeClientRecord(bytes({ ...record, tenants: [] }))).toBe(
      'tenants is not a non-empty list of strings',
    );
    expect(() => clientKey('a.b')).toThrow(/1 to 64 characters/);
  });
});

describe('IngestClientDirectory', () => {
  it('follows the bucket: a client added, a record it cannot read left out (and logged), a revocation', async () => {
    const bus = createMemoryBus();
    await bus.ensureTopology();
    const bucket = await bus.clients();
    const warnings: unknown[] = [];
    const logger = {
      info: () => undefined,
      warn: (_msg: string, fields?: Record<string, unknown>) => void warnings.push(fields),
      error: () => undefined,
      debug: () => undefined,
    };
    const { token, sha256 } = newClientToken();
    await bucket.put(
      clientKey('a'),
      encodeClientRecord({ tokenSha256: sha256, certificate: false, tenants: ['*'], createdAtMs: 1 }),
    );
    await bucket.put(clientKey('broken'), new TextEncoder().encode('not json'));
    const directory = await IngestClientDirectory.open(bucket, logger);
    expect(directory.size).toBe(1);
    expect(warnings).toEqual([{ client: 'broken', why: 'not JSON' }]);
    const ok = directory.authenticate({ authorization: `bearer ${token}`, certificateName: undefined });
    expect(ok.ok && ok.client.name).toBe('a');
    // The header's scheme is case-insensitive; a certificate of a token-only client does not count.
    expect(directory.authenticate({ authorization: undefined, certificateName: 'a' })).toMatchObject({
      ok: false,
      status: { code: grpc.status.UNAUTHENTICATED },
    });
    await bucket.delete(clientKey('a'));
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(directory.size).toBe(0);
    expect(ok.ok && directory.isCurrent(ok.client)).toBe(false);
    await directory.close();
    await bus.close();
  });

  it('names the first event of a tenant the client may not publish for', () => {
    const client = {
      name: 'c',
      revision: 1,
      certificate: false,
      tenants: ['t-1'],
      createdAtMs: 0,
      allowed: new Set(['t-1']),
    };
    const e = (tenantId: string, eventId: string) => ({ tenantId, eventId }) as never;
    expect(tenantRefusal(client, [e('t-1', 'a'), e('t-1', 'b')])).toBeUndefined();
    expect(tenantRefusal(client, [e('t-1', 'a'), e('t-2', 'b'), e('t-3', 'c')])).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      index: 1,
      details: 'event 1 (event_id "b"): client "c" may not publish for tenant "t-2"',
    });
    expect(tenantRefusal({ ...client, allowed: undefined }, [e('t-9', 'a')])).toBeUndefined();
  });
});
