import type { Bus, BusMessage } from '@throughline/bus';
import {
  EnrichedBatch,
  ResultBatch,
  subjects,
  type EnrichedEvent,
  type Result,
} from '@throughline/contracts';
import { applyEvent, EMPTY_ACCOUNT, type AccountState } from '@throughline/ledger';
import { silentLogger, type Envelope, type Logger, type TurnContext } from '@throughline/runtime';
import { LRUCache } from 'lru-cache';
import { positionRange } from './position-range.js';
import { PipelineError, PipelineErrorCode } from './errors.js';
import type { CommittedState, EventClaim, StateMarker, StateStore } from './ports.js';
import { DEFAULT_MAX_OUTPUT_EVENTS, poisonReason } from './enrich-stage.js';
import { publishChunks } from './publish-chunks.js';
import { newStateCounters, type StateCounters } from './state-counters.js';
import {
  forgetRolledBack,
  rebuild,
  rolledBackBeforeOwning,
  rolledBackSince,
  type RecoveryContext,
} from './state-recovery.js';

export function decodeEnrichedBatch(msg: BusMessage): EnrichedBatch {
  return EnrichedBatch.decode(msg.data);
}

export interface StateStageOptions {
  bus: Bus;
  partition: number;
  /**
   * The lease epoch this stage processes the partition under: its store writes and published results carry it,
   * and both are refused downstream once a newer epoch owns the partition.
   */
  epoch: number;
  store: StateStore;
  committed: CommittedState;
  /** Accounts kept in memory for this partition (least recently used are dropped). Default 50000. */
  maxCachedAccounts?: number;
  /** Consumer group of the writer, whose backlog must be empty before state is rebuilt from PostgreSQL. Default 'writer'. */
  writerGroup?: string;
  /** Events per published message. Default 2000. */
  maxOutputEvents?: number;
  logger?: Logger;
  now?: () => number;
  /** Counts of what the stage decided, for metrics and tests. */
  counters?: StateCounters;
  /**
   * Partitions of the stream: an event of an account of another partition is dead-lettered (applying it here would
   * move a balance another partition's owner keeps). Undefined: not checked.
   */
  partitionCount?: number;
}

/**
 * The state stage of one partition. Per turn: look accounts up in memory, fetch the misses from the state store
 * and claim the turn's event ids there in one round trip (and ask PostgreSQL what the store does not have: accounts
 * it lost, ids committed before its horizon), skip events already applied and every other occurrence of an id,
 * apply the rest with the domain, publish the results, then write the new states to the store in one atomic round
 * trip. Output is published before the store write, so a crash in between replays the turn to the same
 * (de-duplicated) output; a crash after it finds the events already applied.
 */
/**
 * The events of a turn's batches, in order, leaving out every batch older than the newest enrich epoch seen so far
 * (`floor`, then the turn's own): an enrich instance that had lost its lease published it, and a newer one
 * publishes the same events again.
 */
function freshBatches(
  turn: Envelope<EnrichedBatch>[],
  floor: number,
): { events: EnrichedEvent[]; upstream: number; stale: number } {
  const events: EnrichedEvent[] = [];
  let upstream = floor;
  let stale = 0;
  for (const { value } of turn) {
    const producer = Number(value.producerEpoch);
    if (producer < upstream) {
      stale++;
      continue;
    }
    upstream = producer;
    for (const e of value.events) events.push(e);
  }
  return { events, upstream, stale };
}

/**
 * Why an event of an enriched batch can never be applied, or undefined: it has no event, fails ingest's checks or
 * belongs to another partition (`poisonReason`), or has no position. Enrich publishes none of these: only a
 * producer that bypassed it can.
 */
export function enrichedPoisonReason(
  enriched: EnrichedEvent,
  index: number,
  partition: number,
  partitionCount: number | undefined,
): string | undefined {
  if (enriched.event === undefined) return `events[${index}].event: missing`;
  if (enriched.position <= 0n)
    return `event ${JSON.stringify(enriched.event.eventId.slice(0, 128))}: events[${index}].position: must be positive, got ${enriched.position}`;
  return poisonReason(enriched.event, index, partition, partitionCount);
}

export class StateStage {
  private readonly opts: Required<Omit<StateStageOptions, 'counters' | 'partitionCount'>> &
    Pick<StateStageOptions, 'partitionCount'>;
  readonly counters: StateCounters;
  private readonly memory: LRUCache<string, AccountState>;
  private marker: StateMarker | undefined;
  /** The newest enrich epoch applied so far (from the marker, then from the batches this stage applied). */
  private upstream = 0;

  constructor(options: StateStageOptions) {
    this.opts = {
      maxCachedAccounts: 50_000,
      writerGroup: 'writer',
      maxOutputEvents: DEFAULT_MAX_OUTPUT_EVENTS,
      logger: silentLogger,
      now: Date.now,
      ...options,
    };
    this.counters = options.counters ?? newStateCounters();
    this.memory = new LRUCache({ max: this.opts.maxCachedAccounts });
  }

  /** Raises the partition's fence in the store to this stage's epoch: older owners' writes are refused from now on. */
  readonly claim = (): Promise<void> => this.opts.store.claim(this.opts.partition, this.opts.epoch);

  readonly handle = async (received: Envelope<EnrichedBatch>[], ctx?: TurnContext): Promise<void> => {
    const { partition, store, epoch } = this.opts;
    const wait = <R>(dependency: string, work: () => Promise<R>): Promise<R> =>
      ctx ? ctx.wait(dependency, work) : work();
    const now = this.opts.now();
    const turn = await this.withoutPoison(received, ctx);
    let input = freshBatches(turn, this.upstream);
    if (input.events.length === 0) {
      this.counters.staleBatches += input.stale;
      return;
    }

    // One LRU lookup per account per turn (it also marks the account recently used), not one per event.
    const inMemory = new Map<string, AccountState>();
    const misses = new Set<string>();
    const claims: EventClaim[] = [];
    for (const e of input.events) {
      const accountId = e.event!.accountId;
      if (inMemory.has(accountId)) this.counters.memoryHits++;
      else if (!misses.has(accountId)) {
        const state = this.memory.get(accountId);
        if (state === undefined) misses.add(accountId);
        else {
          inMemory.set(accountId, state);
          this.counters.memoryHits++;
        }
      }
      const claim: EventClaim = { eventId: e.event!.eventId, position: e.position };
      if (e.redrivenFrom > 0n) claim.redrivenFrom = e.redrivenFrom;
      claims.push(claim);
    }
    const read = await wait('redis', () => store.read(partition, [...misses], claims, now));
    if (read.marker !== undefined && read.marker.owner > epoch) {
      // A newer owner claimed the partition: publish nothing that could race its output.
      throw new PipelineError(
        PipelineErrorCode.fenced,
        `state p${partition}: owned under lease epoch ${read.marker.owner}, newer than ${epoch}`,
        { currentEpoch: read.marker.owner },
      );
    }
    let stored = read.accounts;
    const rolledBack =
      read.marker === undefined
        ? undefined
        : this.marker === undefined
          ? await wait('recovery', () => rolledBackBeforeOwning(this.recovery, read.marker!))
          : rolledBackSince(this.marker, read.marker);
    if (rolledBack !== undefined) {
      // Nothing the store answered of the partition is used: it is forgotten and rebuilt from PostgreSQL. Its claims
      // of event ids are still used: each names the position its event holds, a subset of the truth (the ledger
      // answers for the rest).
      this.counters.rollbacks++;
      await wait('recovery', () => forgetRolledBack(this.recovery, rolledBack));
      stored = new Map();
    }
    if (
      rolledBack !== undefined ||
      read.marker === undefined ||
      (this.marker !== undefined && read.marker.createdAtMs !== this.marker.createdAtMs)
    ) {
      await wait('recovery', () => this.recover(now));
    } else {
      this.marker = read.marker;
    }
    if (this.marker!.upstream > this.upstream) input = freshBatches(turn, this.marker!.upstream);
    this.counters.staleBatches += input.stale;
    ctx?.addEvents(
      input.events.length,
      positionRange(input.events, (e) => e.position),
    );
    const loaded = await this.loadMissing(misses, stored, wait);
    const others = await this.otherOccurrences(read.taken, input.events, wait);

    const changed = new Map<string, AccountState>();
    const results: Result[] = [];
    for (const e of input.events) {
      const { accountId } = e.event!;
      if (others.has(e.position)) {
        this.counters.duplicates++;
        continue;
      }
      const state =
        changed.get(accountId) ?? inMemory.get(accountId) ?? loaded.get(accountId) ?? EMPTY_ACCOUNT;
      if (e.position <= state.position) {
        this.counters.duplicates++;
        continue;
      }
      const decision = applyEvent(state, e);
      changed.set(accountId, decision.state);
      results.push(decision.result);
      if (decision.result.rejectReason === '') this.counters.applied++;
      else this.counters.rejected++;
    }
    if (results.length > 0) {
      await publishChunks({
        ctx,
        bus: this.opts.bus,
        subject: subjects.of('applied', partition),
        // The epoch is part of the id: a stale owner's output can never take the id of the true owner's (a stream
        // keeps the first publish of an id within its duplicate window).
        idPrefix: `st-${partition}-e${epoch}`,
        firstSeq: turn[0]!.msg.seq,
        lastSeq: turn[turn.length - 1]!.msg.seq,
        items: results,
        maxItems: this.opts.maxOutputEvents,
        encode: (items, batchId) =>
          ResultBatch.encode({ batchId, partition, results: items, producerEpoch: BigInt(epoch) }).finish(),
      });
    }
    // Accounts rebuilt from PostgreSQL go back to the store even when this turn left them unchanged (every event of
    // theirs was a duplicate): the store holds every account it is asked for again.
    const rebuilt = [...loaded].filter(([id]) => !stored.has(id) && !changed.has(id));
    if (results.length > 0 || rebuilt.length > 0 || input.upstream > this.marker!.upstream) {
      let highWater = this.marker!.highWater;
      for (const r of results) if (r.position > highWater) highWater = r.position;
      const fence = { epoch, upstream: input.upstream, highWater };
      const toWrite = rebuilt.length === 0 ? changed : new Map([...rebuilt, ...changed]);
      await wait('redis', () => store.write(partition, fence, toWrite));
      this.marker = { ...this.marker!, owner: epoch, upstream: input.upstream, highWater };
    }
    // Memory takes the turn's accounts only once the store holds them: an account kept in memory is never read from
    // the store again, so one that entered memory before a refused write would never reach it.
    for (const [id, state] of loaded) if (!changed.has(id)) this.memory.set(id, state);
    for (const [id, state] of changed) this.memory.set(id, state);
    this.upstream = input.upstream;
  };

  /**
   * The turn without the events no turn could ever apply: each is dead-lettered alone, with its reason (an enriched
   * batch of one), and the rest goes on. Without a turn context (tests, the embedded pipeline's direct calls) such an
   * event fails the turn as poison.
   */
  private async withoutPoison(
    turn: Envelope<EnrichedBatch>[],
    ctx: TurnContext | undefined,
  ): Promise<Envelope<EnrichedBatch>[]> {
    const { partition, partitionCount } = this.opts;
    let out: Envelope<EnrichedBatch>[] | undefined;
    for (const [n, envelope] of turn.entries()) {
      const { msg, value } = envelope;
      let kept: EnrichedEvent[] | undefined;
      for (const [i, e] of value.events.entries()) {
        const reason = enrichedPoisonReason(e, i, partition, partitionCount);
        if (reason === undefined) {
          kept?.push(e);
          continue;
        }
        if (ctx === undefined) throw new PipelineError(PipelineErrorCode.poison, `state: ${reason}`);
        this.counters.deadLettered++;
        await ctx.deadLetter(msg, `state: ${reason}`, {
          index: i,
          data: EnrichedBatch.encode({ ...value, events: [e] }).finish(),
        });
        kept ??= value.events.slice(0, i);
      }
      if (kept === undefined) {
        out?.push(envelope);
        continue;
      }
      out ??= turn.slice(0, n);
      out.push({ msg, value: { ...value, events: kept } });
    }
    return out ?? turn;
  }

  /** Accounts not in memory: from the store, else from PostgreSQL (what the store never had or lost). */
  private async loadMissing(
    misses: Set<string>,
    fromStore: Map<string, AccountState>,
    wait: <R>(dependency: string, work: () => Promise<R>) => Promise<R>,
  ): Promise<Map<string, AccountState>> {
    const loaded = new Map(fromStore);
    this.counters.storeHits += fromStore.size;
    const absent = [...misses].filter((id) => !fromStore.has(id));
    if (absent.length > 0) {
      const fromDb = await wait('postgres', () => this.opts.committed.loadAccounts(absent));
      this.counters.rebuiltFromDatabase += fromDb.size;
      this.counters.newAccounts += absent.length - fromDb.size;
      for (const [id, state] of fromDb) loaded.set(id, state);
    }
    return loaded;
  }

  /**
   * The positions of the events whose id belongs to another occurrence: those the store found claimed for another
   * position, then those PostgreSQL holds for another event — in one query per turn, for the claims the store
   * granted. The store's claims span every partition within the horizon, including events in flight (claimed when
   * read, before they are applied), so an id reused on an account of another partition at the same time is applied
   * once; the ledger remembers every id ever committed. An id the ledger holds for another account or at another position is
   * another occurrence of the event — a client retry after the horizon, an id reused on another account — and is
   * skipped, so no balance moves for an event without its own ledger row. An id the ledger holds for this very event
   * (same account, same position: an earlier attempt of this turn was committed, but its state write failed) is
   * left to the account's position, which tells whether the state holds it.
   */
  private async otherOccurrences(
    taken: Set<bigint>,
    events: readonly EnrichedEvent[],
    wait: <R>(dependency: string, work: () => Promise<R>) => Promise<R>,
  ): Promise<Set<bigint>> {
    const others = new Set(taken);
    const claimed = events.filter((e) => !taken.has(e.position));
    if (claimed.length > 0) {
      const committed = await wait('postgres', () =>
        this.opts.committed.committedEvents([...new Set(claimed.map((e) => e.event!.eventId))]),
      );
      for (const e of claimed) {
        const row = committed.get(e.event!.eventId);
        if (row !== undefined && (row.accountId !== e.event!.accountId || row.position !== e.position))
          others.add(e.position);
      }
    }
    return others;
  }

  private get recovery(): RecoveryContext {
    const { bus, partition, epoch, store, committed, writerGroup, logger } = this.opts;
    return { bus, partition, epoch, store, committed, writerGroup, logger };
  }

  /** The store has no marker for the partition (new, lost, or forgotten after a rollback): rebuild it. */
  private async recover(now: number): Promise<void> {
    const { marker, lost } = await rebuild(this.recovery, now);
    this.marker = marker;
    if (lost) this.counters.recoveries++;
  }
}
