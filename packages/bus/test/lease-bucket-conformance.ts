/**
 * The behaviour every `LeaseBucket` must have: the NATS KV bucket against a real nats-server and the in-memory
 * bucket run exactly these tests. The bucket's time to live must be short (about a second).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LeaseBucket, LeaseEntry } from '../src/index.js';
import { waitFor } from '@throughline/testkit';

export interface LeaseBucketUnderTest {
  bucket: LeaseBucket;
  /** Lets `ms` pass for the bucket (a real wait, or an injected clock moved on). */
  elapse(ms: number): Promise<void>;
  cleanup(): Promise<void>;
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const text = (entry: LeaseEntry): string | undefined =>
  entry.value === undefined ? undefined : new TextDecoder().decode(entry.value);

export function runLeaseBucketConformance(name: string, make: () => Promise<LeaseBucketUnderTest>): void {
  describe(`LeaseBucket conformance: ${name}`, { timeout: 20_000 }, () => {
    let under: LeaseBucketUnderTest;
    let bucket: LeaseBucket;

    beforeEach(async () => {
      under = await make();
      bucket = under.bucket;
      expect(bucket.ttlMs).toBeLessThanOrEqual(2_000);
    });
    afterEach(async () => {
      await under.cleanup();
    });

    it('creates a key once, updates it only at its last revision, deletes it only at its last revision', async () => {
      const created = await bucket.create('t.lease.0', bytes('a'));
      expect(created).toBeGreaterThan(0);
      expect(await bucket.create('t.lease.0', bytes('b'))).toBeUndefined();
      const updated = await bucket.update('t.lease.0', bytes('c'), created!);
      expect(updated).toBeGreaterThan(created!);
      expect(await bucket.update('t.lease.0', bytes('d'), created!)).toBeUndefined();
      expect(await bucket.delete('t.lease.0', created)).toBe(false);
      expect((await bucket.entries('t.lease')).map(text)).toEqual(['c']);
      expect(await bucket.delete('t.lease.0', updated)).toBe(true);
      expect(await bucket.entries('t.lease')).toEqual([]);
      expect(await bucket.update('t.lease.0', bytes('e'), updated!)).toBeUndefined();
      // A deleted key can be created again, with a revision larger than any before.
      const again = await bucket.create('t.lease.0', bytes('f'));
      expect(again).toBeGreaterThan(updated!);
    });

    it('starts its revisions at its creation time in microseconds, so a bucket made again never goes back', async () => {
      const revision = await bucket.put('t.member.z', bytes('0'));
      expect(revision).toBeGreaterThan(1_700_000_000_000_000);
      expect(revision).toBeLessThan(Number.MAX_SAFE_INTEGER);
    });

    it('numbers writes across keys in increasing order', async () => {
      const a = await bucket.put('t.member.a', bytes('1'));
      const b = await bucket.create('t.lease.1', bytes('2'));
      const c = await bucket.put('t.member.a', bytes('3'));
      expect(b).toBeGreaterThan(a);
      expect(c).toBeGreaterThan(b!);
      expect((await bucket.entries('t')).map((e) => [e.key, text(e)])).toEqual([
        ['t.lease.1', '2'],
        ['t.member.a', '3'],
      ]);
      expect((await bucket.entries('t.member')).map((e) => e.key)).toEqual(['t.member.a']);
    });

    it('forgets a key not written for the time to live', async () => {
      const created = await bucket.create('t.lease.2', bytes('held'));
      await bucket.put('t.member.x', bytes('alive'));
      await under.elapse(bucket.ttlMs / 2);
      await bucket.put('t.member.x', bytes('still alive'));
      await under.elapse(bucket.ttlMs / 2 + 100);
      await waitFor(async () => (await bucket.entries('t.lease')).length === 0, {
        timeoutMs: bucket.ttlMs * 3,
        intervalMs: 50,
        message: 'the lease did not expire',
      });
      expect((await bucket.entries('t.member')).map(text)).toEqual(['still alive']);
      expect(await bucket.update('t.lease.2', bytes('renew'), created!)).toBeUndefined();
      expect(await bucket.create('t.lease.2', bytes('taken over'))).toBeGreaterThan(created!);
    });

    it('watches current values first, then every write and delete under a prefix, in order', async () => {
      await bucket.put('t.lease.3', bytes('before'));
      await bucket.put('u.lease.3', bytes('elsewhere'));
      const seen: [string, string | undefined][] = [];
      const stored: (number | undefined)[] = [];
      const watch = await bucket.watch('t.lease', (e) => {
        seen.push([e.key, text(e)]);
        stored.push(e.storedAtMs);
      });
      expect(seen).toEqual([['t.lease.3', 'before']]);
      const rev = await bucket.put('t.lease.4', bytes('new'));
      await bucket.delete('t.lease.4', rev);
      await bucket.put('u.lease.4', bytes('not mine'));
      await bucket.put('t.lease.3', bytes('after'));
      await waitFor(() => Promise.resolve(seen.length === 4), { timeoutMs: 5_000, intervalMs: 10 });
      expect(seen).toEqual([
        ['t.lease.3', 'before'],
        ['t.lease.4', 'new'],
        ['t.lease.4', undefined],
        ['t.lease.3', 'after'],
      ]);
      // Each carries when the bucket stored it (how long a hand-over's release took to arrive is told from it).
      expect(stored.every((t) => typeof t === 'number' && t > 0)).toBe(true);
      expect([...stored].sort((a, b) => a! - b!)).toEqual(stored);
      await watch.stop();
      await bucket.put('t.lease.3', bytes('unseen'));
      await under.elapse(200);
      expect(seen).toHaveLength(4);
    });

    it('reads one key', async () => {
      expect(await bucket.get('t.lease.5')).toBeUndefined();
      const revision = await bucket.create('t.lease.5', bytes('mine'));
      const entry = await bucket.get('t.lease.5');
      expect(entry && { revision: entry.revision, text: text(entry) }).toEqual({ revision, text: 'mine' });
      await bucket.delete('t.lease.5');
      expect(await bucket.get('t.lease.5')).toBeUndefined();
    });

    it('moves its revisions past a floor (every key goes), and does nothing when already past it', async () => {
      const first = await bucket.put('t.lease.6', bytes('a'));
      await bucket.advanceRevision(first - 1);
      expect(await bucket.get('t.lease.6')).toBeDefined();
      const floor = first + 1_000;
      await bucket.advanceRevision(floor);
      expect(await bucket.get('t.lease.6')).toBeUndefined();
      expect(await bucket.create('t.lease.6', bytes('b'))).toBe(floor + 1);
      expect(await bucket.put('t.member.y', bytes('c'))).toBe(floor + 2);
    });

    it('resolves a watch of an empty prefix at once', async () => {
      const seen: LeaseEntry[] = [];
      const watch = await bucket.watch('t.none', (e) => seen.push(e));
      expect(seen).toEqual([]);
      await watch.stop();
    });
  });
}
