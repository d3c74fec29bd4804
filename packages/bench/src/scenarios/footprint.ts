/**
 * What the state stage keeps in Redis, measured: the memory Redis reports (`used_memory`) before and after the
 * state store writes a number of accounts, then claims a number of event ids, the way the state stage does (one
 * fenced write script per batch, 16 partitions; the claims of a batch's ids with its read). Event ids are UUIDs (36
 * characters), as clients usually make them; positions and balances have realistic widths. Redis holds the accounts
 * written within their time to live (`STATE_ACCOUNT_TTL_MS`) and the ids claimed within the de-duplication horizon
 * (`DEDUP_HORIZON_MS`, up to twice it), so these two figures give its size for a deployment.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { AccountState } from '@throughline/ledger';
import { createRedisStateStore } from '@throughline/stores';
import { startRedis } from '@throughline/testkit';

export interface FootprintReport {
  accounts: number;
  bytesPerAccount: number;
  /** Redis memory for 100,000 accounts, MiB. */
  per100kAccountsMiB: number;
  eventIds: number;
  bytesPerEventId: number;
  /** Redis memory for one million event ids claimed inside the horizon, MiB. */
  perMillionEventIdsMiB: number;
}

const PARTITIONS = 16;
const BATCH = 1000;

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (match === null) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

export async function runFootprint(sizes: { accounts: number; eventIds: number }): Promise<FootprintReport> {
  const server = await startRedis();
  const redis = new Redis(server.url);
  try {
    const store = createRedisStateStore(redis, { keyPrefix: 'tl:1f3a9c2e' });
    const now = Date.now();
    for (let p = 0; p < PARTITIONS; p++) await store.initMarker(p, null, now, 1);
    const fence = { epoch: 1, upstream: 1, highWater: 2_354_251_312_658_579_464n };
    const start = await usedMemory(redis);

    for (let i = 0; i < sizes.accounts; i += BATCH) {
      const byPartition = new Map<number, Map<string, AccountState>>();
      for (let j = i; j < Math.min(i + BATCH, sizes.accounts); j++) {
        const p = j % PARTITIONS;
        let accounts = byPartition.get(p);
        if (accounts === undefined) byPartition.set(p, (accounts = new Map<string, AccountState>()));
        accounts.set(`acc-${j}`, {
          balanceMinor: 1_234_567n + BigInt(j),
          position: 2_354_251_312_658_579_464n + BigInt(j),
          debitsDay: 20_454,
          debitsDayMinor: 214_263n,
        });
      }
      for (const [p, accounts] of byPartition) await store.write(p, fence, accounts);
    }
    const afterAccounts = await usedMemory(redis);

    let position = 2_354_251_312_658_579_464n;
    for (let i = 0; i < sizes.eventIds; i += BATCH * PARTITIONS) {
      for (let p = 0; p < PARTITIONS; p++) {
        const claims = Array.from(
          { length: Math.min(BATCH, Math.max(0, sizes.eventIds - i - p * BATCH)) },
          () => ({ eventId: randomUUID(), position: position++ }),
        );
        if (claims.length > 0) await store.read(p, [], claims, now);
      }
    }
    const afterIds = await usedMemory(redis);

    const bytesPerAccount = (afterAccounts - start) / sizes.accounts;
    const bytesPerEventId = (afterIds - afterAccounts) / sizes.eventIds;
    return {
      accounts: sizes.accounts,
      bytesPerAccount,
      per100kAccountsMiB: (bytesPerAccount * 100_000) / 2 ** 20,
      eventIds: sizes.eventIds,
      bytesPerEventId,
      perMillionEventIdsMiB: (bytesPerEventId * 1_000_000) / 2 ** 20,
    };
  } finally {
    redis.disconnect();
    await server.stop();
  }
}
