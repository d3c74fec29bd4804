/** Key checks shared by both lease buckets: NATS KV keys are `.`-separated tokens. */
import { BusError, BusErrorCode } from '../errors.js';

const KEY = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export function checkLeaseKey(key: string): void {
  if (!KEY.test(key))
    throw new BusError(
      BusErrorCode.invalidArgument,
      `lease key must be dot-separated [A-Za-z0-9_-] tokens, got '${key}'`,
    );
}

/** True when `key` lies under `prefix` (`a.b` covers `a.b.c`, not `a.bc` or `a.b` itself). */
export function underPrefix(key: string, prefix: string): boolean {
  return key.startsWith(`${prefix}.`);
}
