/** What the writer committed, counted in process: outcomes by reason and ingest-to-commit latency. */
import { Outcome, type Result } from '@throughline/contracts';
import type { ResultSink } from '@throughline/pipeline';

/** Latencies in 1 ms buckets up to a bound; percentiles exact to the millisecond. */
export class LatencyHistogram {
  private readonly buckets: Uint32Array;
  private total = 0;
  private max = 0;

  /** @param maxMs latencies above this are counted in the last bucket. Default 600000 (10 minutes). */
  constructor(maxMs = 600_000) {
    this.buckets = new Uint32Array(maxMs + 1);
  }

  get count(): number {
    return this.total;
  }

  get maxMs(): number {
    return this.max;
  }

  add(ms: number, times = 1): void {
    const bucket = Math.min(this.buckets.length - 1, Math.max(0, Math.round(ms)));
    this.buckets[bucket] = (this.buckets[bucket] ?? 0) + times;
    this.total += times;
    if (ms > this.max) this.max = ms;
  }

  /** The smallest latency (ms) at or below which a share `q` (0..1) of the samples fall; 0 when empty. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let ms = 0; ms < this.buckets.length; ms++) {
      seen += this.buckets[ms] ?? 0;
      if (seen >= rank) return ms;
    }
    return this.buckets.length - 1;
  }
}

export interface OutcomeCounts {
  applied: number;
  rejected: number;
  /** Rejections by reason (`OVERDRAFT_LIMIT_EXCEEDED`, …). */
  rejectedByReason: Record<string, number>;
}

export class CommitStats {
  /** From ingest's acceptance of an event to the COMMIT of its ledger row, ms. */
  readonly latency = new LatencyHistogram();
  /** Ledger rows inserted. */
  insertedRows = 0;
  /** Results whose ledger row existed already (a replayed batch). */
  duplicateRows = 0;
  readonly outcomes: OutcomeCounts = { applied: 0, rejected: 0, rejectedByReason: {} };

  record(results: readonly Result[], inserted: number, committedAtMs: number): void {
    this.insertedRows += inserted;
    this.duplicateRows += results.length - inserted;
    // A replayed batch (some rows already there) is not counted again: which of its rows are new is not known here.
    if (inserted !== results.length) return;
    const byAcceptance = new Map<bigint, number>();
    for (const r of results) {
      byAcceptance.set(r.acceptedAtMs, (byAcceptance.get(r.acceptedAtMs) ?? 0) + 1);
      if (r.outcome === Outcome.OUTCOME_APPLIED) {
        this.outcomes.applied++;
      } else {
        this.outcomes.rejected++;
        const reasons = this.outcomes.rejectedByReason;
        reasons[r.rejectReason] = (reasons[r.rejectReason] ?? 0) + 1;
      }
    }
    for (const [acceptedAtMs, n] of byAcceptance) this.latency.add(committedAtMs - Number(acceptedAtMs), n);
  }

  snapshotOutcomes(): OutcomeCounts {
    return { ...this.outcomes, rejectedByReason: { ...this.outcomes.rejectedByReason } };
  }
}

/** A sink that records what `sink` committed into `stats`. */
export function observedSink(sink: ResultSink, stats: CommitStats, now: () => number = Date.now): ResultSink {
  return {
    claim: (partition, epoch) => sink.claim(partition, epoch),
    async commitBatch(fence, results) {
      const outcome = await sink.commitBatch(fence, results);
      stats.record(results, outcome.inserted, now());
      return outcome;
    },
  };
}
