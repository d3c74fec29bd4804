import { Direction, type Event } from '@throughline/contracts';

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same workload everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface WorkloadOptions {
  /** Distinct accounts (keys). Default 2000. */
  accounts?: number;
  /** Tenants the accounts are spread over (`tenant-1`..`tenant-N`). Default 5. */
  tenants?: number;
  /** Zipf exponent of the key distribution: 0 is uniform, ~1 is a realistic hot set. Default 0.8. */
  skew?: number;
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Share of debits. Default 0.4. */
  debitShare?: number;
  /** Share of events in a currency other than EUR (USD, GBP, CHF, or an unknown one). Default 0.1. */
  foreignCurrencyShare?: number;
  /** Timestamp of the first event, ms since the epoch. Default 2026-01-01T00:00:00Z. */
  startMs?: number;
  /** Milliseconds between consecutive events' `occurred_at`. Default 1. */
  stepMs?: number;
  /** Prefix of the event ids, so separate runs do not collide. Default 'ev'. */
  idPrefix?: string;
}

const FOREIGN = ['USD', 'GBP', 'CHF', 'SEK'];

/**
 * A deterministic generator of ledger events with a skewed key distribution: event `i` of a given seed is always
 * the same event. Accounts `acc-<n>` belong to tenant `tenant-<(n % tenants) + 1>`.
 */
export class LedgerWorkload {
  private readonly opts: Required<WorkloadOptions>;
  private readonly random: () => number;
  private readonly cdf: Float64Array;
  private produced = 0;

  constructor(options: WorkloadOptions = {}) {
    this.opts = {
      accounts: 2000,
      tenants: 5,
      skew: 0.8,
      seed: 1,
      debitShare: 0.4,
      foreignCurrencyShare: 0.1,
      startMs: Date.UTC(2026, 0, 1),
      stepMs: 1,
      idPrefix: 'ev',
      ...options,
    };
    this.random = seededRandom(this.opts.seed);
    const weights = new Float64Array(this.opts.accounts);
    let total = 0;
    for (let k = 0; k < weights.length; k++) {
      total += 1 / Math.pow(k + 1, this.opts.skew);
      weights[k] = total;
    }
    for (let k = 0; k < weights.length; k++) weights[k] = weights[k]! / total;
    this.cdf = weights;
  }

  /** The account of rank `k` is `acc-<k>`; rank 0 is the hottest. */
  accountOf(rank: number): string {
    return `acc-${rank}`;
  }

  tenantOf(rank: number): string {
    return `tenant-${(rank % this.opts.tenants) + 1}`;
  }

  private pickRank(): number {
    const u = this.random();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The next event. */
  next(): Event {
    const i = this.produced++;
    const rank = this.pickRank();
    const debit = this.random() < this.opts.debitShare;
    const foreign = this.random() < this.opts.foreignCurrencyShare;
    const currency = foreign ? FOREIGN[Math.floor(this.random() * FOREIGN.length)]! : 'EUR';
    const amount = 100 + Math.floor(this.random() * (debit ? 20_000 : 40_000));
    return {
      eventId: `${this.opts.idPrefix}-${this.opts.seed}-${i}`,
      accountId: this.accountOf(rank),
      tenantId: this.tenantOf(rank),
      direction: debit ? Direction.DIRECTION_DEBIT : Direction.DIRECTION_CREDIT,
      amountMinor: BigInt(amount),
      currency,
      occurredAtMs: BigInt(this.opts.startMs + i * this.opts.stepMs),
      attributes: {},
    };
  }

  /** The next `count` events. */
  take(count: number): Event[] {
    const out: Event[] = new Array<Event>(count);
    for (let i = 0; i < count; i++) out[i] = this.next();
    return out;
  }
}
