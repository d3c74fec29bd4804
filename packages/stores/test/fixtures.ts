/** Results for the tests: single ones, and consistent histories whose running balances add up. */
import { Direction, Outcome, type Result } from '@throughline/contracts';
import type { CommitFence } from '../src/index.js';

export function result(over: Partial<Result> = {}): Result {
  return {
    eventId: 'e-1',
    accountId: 'acc-1',
    tenantId: 'tenant-1',
    position: 1n,
    outcome: Outcome.OUTCOME_APPLIED,
    rejectReason: '',
    deltaMinor: 100n,
    feeMinor: 0n,
    balanceAfterMinor: 100n,
    configVersion: 1n,
    direction: Direction.DIRECTION_CREDIT,
    amountMinor: 100n,
    currency: 'EUR',
    occurredAtMs: 1_700_000_000_123n,
    acceptedAtMs: 1_700_000_000_456n,
    debitsDay: 19675,
    debitsDayMinor: 0n,
    ...over,
  };
}

export interface HistoryOptions {
  events: number;
  accounts: number;
  /** Position of the first event. Default 1. */
  firstPosition?: bigint;
  /** Prefix of event and account ids. Default ''. */
  prefix?: string;
  configVersion?: bigint;
  tenantId?: string;
  /** Balances to continue from (updated in place). */
  balances?: Map<string, bigint>;
}

/** Credits and debits on `accounts` accounts, every seventh one rejected, balances running correctly. */
export function history(opts: HistoryOptions): Result[] {
  const balances = opts.balances ?? new Map<string, bigint>();
  const first = opts.firstPosition ?? 1n;
  const prefix = opts.prefix ?? '';
  const out: Result[] = [];
  for (let i = 0; i < opts.events; i++) {
    const position = first + BigInt(i);
    const accountId = `${prefix}acc-${i % opts.accounts}`;
    const before = balances.get(accountId) ?? 0n;
    const rejected = i % 7 === 6;
    const credit = i % 3 !== 2;
    const amount = BigInt(100 + (i % 50));
    const delta = rejected ? 0n : credit ? amount : -amount;
    balances.set(accountId, before + delta);
    out.push(
      result({
        eventId: `${prefix}ev-${position}`,
        accountId,
        tenantId: opts.tenantId ?? 'tenant-1',
        position,
        outcome: rejected ? Outcome.OUTCOME_REJECTED : Outcome.OUTCOME_APPLIED,
        rejectReason: rejected ? 'DAILY_LIMIT_EXCEEDED' : '',
        direction: credit ? Direction.DIRECTION_CREDIT : Direction.DIRECTION_DEBIT,
        amountMinor: amount,
        deltaMinor: delta,
        balanceAfterMinor: before + delta,
        configVersion: opts.configVersion ?? 1n,
        debitsDayMinor: BigInt(i),
      }),
    );
  }
  return out;
}

/** The fences of a commit to `partition` by a writer of lease epoch `epoch` (1 unless a test is about fencing). */
export function at(partition: number, epoch = 1, upstream = 0): CommitFence {
  return { partition, epoch, upstream };
}
