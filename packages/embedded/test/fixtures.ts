/** Results whose running balances add up, and a temporary data directory per test file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Direction, Outcome, type Result } from '@throughline/contracts';
import { afterAll } from 'vitest';

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tl-${prefix}-`));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Credits and debits on `accounts` accounts, every seventh one rejected, balances running correctly. */
export function history(opts: {
  events: number;
  accounts: number;
  prefix: string;
  firstPosition?: bigint;
  balances?: Map<string, bigint>;
}): Result[] {
  const balances = opts.balances ?? new Map<string, bigint>();
  const out: Result[] = [];
  for (let i = 0; i < opts.events; i++) {
    const position = (opts.firstPosition ?? 1n) + BigInt(i);
    const accountId = `${opts.prefix}acc-${i % opts.accounts}`;
    const before = balances.get(accountId) ?? 0n;
    const rejected = i % 7 === 6;
    const credit = i % 3 !== 2;
    const amount = BigInt(100 + (i % 50));
    const delta = rejected ? 0n : credit ? amount : -amount;
    balances.set(accountId, before + delta);
    out.push({
      eventId: `${opts.prefix}ev-${position}`,
      accountId,
      tenantId: 'tenant-1',
      position,
      outcome: rejected ? Outcome.OUTCOME_REJECTED : Outcome.OUTCOME_APPLIED,
      rejectReason: rejected ? 'DAILY_LIMIT_EXCEEDED' : '',
      deltaMinor: delta,
      feeMinor: 0n,
      balanceAfterMinor: before + delta,
      configVersion: 1n,
      direction: credit ? Direction.DIRECTION_CREDIT : Direction.DIRECTION_DEBIT,
      amountMinor: amount,
      currency: 'EUR',
      occurredAtMs: 1_700_000_000_123n,
      acceptedAtMs: 1_700_000_000_456n,
      debitsDay: 19675,
      debitsDayMinor: BigInt(i),
    });
  }
  return out;
}
