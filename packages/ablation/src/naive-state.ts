import type { Bus } from '@throughline/bus';
import {
  ResultBatch,
  subjects,
  type EnrichedBatch,
  type EnrichedEvent,
  type Result,
} from '@throughline/contracts';
import { applyEvent, EMPTY_ACCOUNT, type AccountState } from '@throughline/ledger';
import type { Envelope, TurnContext } from '@throughline/runtime';
import { StateStage, type StateStageOptions, type StateStore } from '@throughline/pipeline';
import { LRUCache } from 'lru-cache';
import { runKeyed, type InFlightLimit } from './keyed-runner.js';
import type { PipelineMode } from './pipeline-mode.js';
import type { AccountTransactions } from './account-transactions.js';

export interface NaiveStateOptions {
  bus: Bus;
  partition: number;
  mode: PipelineMode;
  /** Shared by every partition of the process: the events in flight. */
  limit: InFlightLimit;
  /** Per-event account transactions in PostgreSQL, used when the `cache` lesson is off. */
  accounts: AccountTransactions;
  /** Everything the optimized stage needs, used when `cache` is on. */
  stage: Omit<StateStageOptions, 'bus' | 'partition' | 'epoch'>;
  /** The lease epoch of this instance for the partition. */
  epoch: number;
  now?: () => number;
}

interface Item {
  seq: number;
  index: number;
  event: EnrichedEvent;
}

type Wait = <R>(dependency: string, work: () => Promise<R>, calls?: number) => Promise<R>;

/**
 * The state stage without some of its lessons. Without `cache`: per event, one PostgreSQL transaction (`SELECT …
 * FOR UPDATE`, apply, publish, upsert, `COMMIT`). With `cache` but not `batching`: per event, one Redis read and
 * one Redis write (memory first when `partitioned`). With `cache` and `batching`: the optimized stage, but without
 * `partitioned` its memory lasts one turn (a worker that does not own its keys cannot trust what it remembers).
 * Results are published per event (id `stn-<p>:<seq>:<index>`) before the state is written, as in the optimized
 * stage, so a replay re-publishes the same ids, which the duplicate window drops.
 */
export function createNaiveStateHandler(
  options: NaiveStateOptions,
): (turn: Envelope<EnrichedBatch>[], ctx?: TurnContext) => Promise<void> {
  const { mode, bus, partition, epoch } = options;
  const features = mode.features;
  if (features.has('cache') && features.has('batching')) {
    const make = () => new StateStage({ ...options.stage, bus, partition, epoch });
    if (features.has('partitioned')) return make().handle;
    return (turn, ctx) => make().handle(turn, ctx);
  }
  const now = options.now ?? Date.now;
  const subject = subjects.of('applied', partition);
  const memory = features.has('partitioned')
    ? new LRUCache<string, AccountState>({ max: options.stage.maxCachedAccounts ?? 50_000 })
    : undefined;
  let markerKnown = false;

  const publish = async (item: Item, result: Result, wait: Wait, ctx: TurnContext | undefined) => {
    const batchId = `stn-${partition}:${item.seq}:${item.index}`;
    const data = ResultBatch.encode({
      batchId,
      partition,
      results: [result],
      producerEpoch: BigInt(epoch),
    }).finish();
    const headers = ctx?.outgoingHeaders ? { headers: ctx.outgoingHeaders } : {};
    await wait('nats', () => bus.publish(subject, data, { msgId: batchId, ...headers }));
  };

  const inDatabase = async (item: Item, wait: Wait, ctx: TurnContext | undefined) => {
    const accountId = item.event.event!.accountId;
    const locked = await wait('postgres', () => options.accounts.lock(accountId), 2);
    try {
      const state = locked.state ?? EMPTY_ACCOUNT;
      if (item.event.position <= state.position) {
        await wait('postgres', () => locked.commit(undefined));
        return;
      }
      const decision = applyEvent(state, item.event);
      await publish(item, decision.result, wait, ctx);
      await wait('postgres', () => locked.commit(decision.state), 2);
    } catch (err) {
      await locked.rollback().catch(() => undefined);
      throw err;
    }
  };

  const inStore = async (item: Item, store: StateStore, wait: Wait, ctx: TurnContext | undefined) => {
    const { accountId, eventId } = item.event.event!;
    const at = now();
    let state = memory?.get(accountId);
    if (state === undefined) {
      const claim = { eventId, position: item.event.position };
      const read = await wait('redis', () => store.read(partition, [accountId], [claim], at));
      if (read.taken.has(item.event.position)) return;
      if (read.marker === undefined && !markerKnown)
        await wait('redis', () => store.initMarker(partition, null, at, epoch));
      markerKnown = true;
      state = read.accounts.get(accountId) ?? EMPTY_ACCOUNT;
    }
    if (item.event.position <= state.position) return;
    const decision = applyEvent(state, item.event);
    await publish(item, decision.result, wait, ctx);
    const fence = { epoch, upstream: 0, highWater: item.event.position };
    await wait('redis', () => store.write(partition, fence, new Map([[accountId, decision.state]])));
    memory?.set(accountId, decision.state);
  };

  return async (turn, ctx) => {
    const items: Item[] = [];
    for (const { msg, value } of turn)
      value.events.forEach((event, index) => items.push({ seq: msg.seq, index, event }));
    ctx?.addEvents(items.length);
    const wait: Wait = (dependency, work, calls) => (ctx ? ctx.wait(dependency, work, calls) : work());
    const perEvent = features.has('cache')
      ? (item: Item) => inStore(item, options.stage.store, wait, ctx)
      : (item: Item) => inDatabase(item, wait, ctx);
    await runKeyed(items, (item) => item.event.event!.accountId, options.limit, perEvent);
  };
}
