/**
 * The requests `throughline load` sends, the same for the same seed: ledger events from the skewed workload, a
 * share of them sent again (duplicates a client retry would produce), and a share of malformed events. Malformed
 * events go in requests of their own — ingest refuses a request with any bad event whole — so they do not take
 * valid events down with them.
 */
import { Direction, type Event } from '@throughline/contracts';
import { LedgerWorkload, seededRandom } from '@throughline/ledger';

export interface RequestStreamOptions {
  accounts: number;
  tenants: number;
  skew: number;
  seed: number;
  /** Share of events that resend an earlier event. */
  duplicates: number;
  /** Share of events that are malformed. */
  invalid: number;
  batchSize: number;
  /** Prefix of the event ids. Default `ld`. */
  idPrefix?: string;
}

export type LoadRequest =
  { kind: 'valid'; events: Event[]; fresh: number; resent: number } | { kind: 'invalid'; events: Event[] };

/** What a malformed event breaks, in turn. */
const MALFORMATIONS: ((e: Event) => Event)[] = [
  (e) => ({ ...e, amountMinor: 0n }),
  (e) => ({ ...e, currency: e.currency.toLowerCase() }),
  (e) => ({ ...e, eventId: '' }),
  (e) => ({ ...e, direction: Direction.DIRECTION_UNSPECIFIED }),
  (e) => ({ ...e, accountId: '' }),
];

/** Earlier events a duplicate is drawn from. */
const RESEND_WINDOW = 10_000;

export class RequestStream {
  private readonly workload: LedgerWorkload;
  private readonly random: () => number;
  private readonly recent: Event[] = [];
  private malformed = 0;
  private pendingInvalid: Event[] = [];

  constructor(private readonly o: RequestStreamOptions) {
    this.workload = new LedgerWorkload({
      accounts: o.accounts,
      tenants: o.tenants,
      skew: o.skew,
      seed: o.seed,
      idPrefix: o.idPrefix ?? 'ld',
    });
    // A second generator for the choices, so the workload's events do not depend on the shares.
    this.random = seededRandom(o.seed ^ 0x5eed);
  }

  /** The next request, holding at most `budget` events (at least 1). */
  next(budget: number): LoadRequest {
    if (this.pendingInvalid.length > 0) return { kind: 'invalid', events: this.pendingInvalid.splice(0, 1) };
    const events: Event[] = [];
    let resent = 0;
    let slots = Math.min(budget, this.o.batchSize);
    while (slots > 0) {
      const u = this.random();
      if (u < this.o.invalid) {
        const bad = MALFORMATIONS[this.malformed++ % MALFORMATIONS.length]!(this.workload.next());
        if (events.length === 0) return { kind: 'invalid', events: [bad] };
        // Sent next, on its own; this request ends here.
        this.pendingInvalid.push(bad);
        break;
      }
      if (u < this.o.invalid + this.o.duplicates && this.recent.length > 0) {
        events.push(this.recent[Math.floor(this.random() * this.recent.length)]!);
        resent++;
      } else {
        const event = this.workload.next();
        events.push(event);
        if (this.recent.length < RESEND_WINDOW) this.recent.push(event);
        else this.recent[Math.floor(this.random() * RESEND_WINDOW)] = event;
      }
      slots--;
    }
    return { kind: 'valid', events, fresh: events.length - resent, resent };
  }
}
