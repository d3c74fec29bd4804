/** Redis key layout and value encodings of the state store. */
import type { AccountState } from './account-state.js';
import { StoreError, StoreErrorCode } from './errors.js';

/** When a partition's Redis state began, and whether it was rebuilt from PostgreSQL. */
export interface Epoch {
  /** When this epoch's key was written, milliseconds since the Unix epoch. */
  createdAtMs: number;
  /** When state was rebuilt from PostgreSQL after Redis lost it; null for a partition that started empty. */
  recoveredAtMs: number | null;
}

/**
 * Key builders. `{p<partition>}` is a Redis Cluster hash tag: every key of one partition lands in one slot, so the
 * pipelines and MULTI of one partition's turn never cross slots.
 */
export interface StateKeys {
  account(partition: number, accountId: string): string;
  seen(partition: number, bucket: number): string;
  epoch(partition: number): string;
}

export function stateKeys(keyPrefix: string): StateKeys {
  return {
    account: (partition, accountId) => `${keyPrefix}:{p${partition}}:a:${accountId}`,
    seen: (partition, bucket) => `${keyPrefix}:{p${partition}}:seen:${bucket}`,
    epoch: (partition) => `${keyPrefix}:{p${partition}}:epoch`,
  };
}

/** `balance|position|day|debits` in decimal: compact, and bigints keep every digit. */
export function encodeAccount(state: AccountState): string {
  return `${state.balanceMinor}|${state.position}|${state.debitsDay}|${state.debitsDayMinor}`;
}

export function decodeAccount(key: string, value: string): AccountState {
  const parts = value.split('|');
  if (parts.length !== 4) throw corrupt(key, value);
  try {
    const debitsDay = Number(parts[2]);
    if (!Number.isSafeInteger(debitsDay)) throw corrupt(key, value);
    return {
      balanceMinor: BigInt(parts[0] as string),
      position: BigInt(parts[1] as string),
      debitsDay,
      debitsDayMinor: BigInt(parts[3] as string),
    };
  } catch (err) {
    throw err instanceof StoreError ? err : corrupt(key, value, err);
  }
}

export function encodeEpoch(epoch: Epoch): string {
  return JSON.stringify(epoch);
}

export function decodeEpoch(key: string, value: string): Epoch {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw corrupt(key, value, err);
  }
  const e = parsed as Partial<Epoch> | null;
  if (
    e === null ||
    typeof e !== 'object' ||
    typeof e.createdAtMs !== 'number' ||
    (e.recoveredAtMs !== null && typeof e.recoveredAtMs !== 'number')
  ) {
    throw corrupt(key, value);
  }
  return { createdAtMs: e.createdAtMs, recoveredAtMs: e.recoveredAtMs };
}

function corrupt(key: string, value: string, cause?: unknown): StoreError {
  return new StoreError(StoreErrorCode.corruptState, `cannot decode ${key}: ${JSON.stringify(value)}`, {
    cause,
  });
}
