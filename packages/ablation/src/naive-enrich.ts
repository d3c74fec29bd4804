import type { Bus } from '@throughline/bus';
import {
  EnrichedBatch,
  subjects,
  type EventBatch,
  type EnrichedEvent,
  type TenantConfig,
} from '@throughline/contracts';
import { enrichEvent } from '@throughline/ledger';
import type { Envelope, TurnContext } from '@throughline/runtime';
import {
  DEFAULT_MAX_OUTPUT_EVENTS,
  positionOf,
  publishChunks,
  type ConfigSnapshot,
} from '@throughline/pipeline';
import { runKeyed, type InFlightLimit } from './keyed-runner.js';
import type { PipelineMode } from './pipeline-mode.js';

export interface NaiveEnrichOptions {
  bus: Bus;
  partition: number;
  /** The lease epoch of this instance for the partition. */
  epoch: number;
  mode: PipelineMode;
  /** Shared by every partition of the process: the events in flight. */
  limit: InFlightLimit;
  /** The pushed snapshot, used when the `snapshot` lesson is on. */
  snapshot: () => ConfigSnapshot;
  /** One ConfigService.Get round trip (undefined for an unknown tenant), used when `snapshot` is off. */
  getConfig: (tenantId: string) => Promise<TenantConfig | undefined>;
  /** Events per published message when `batching` is on. Default 2000. */
  maxOutputEvents?: number;
}

interface Item {
  seq: number;
  index: number;
  acceptedAtMs: bigint;
  event: EventBatch['events'][number];
}

/**
 * The enrich stage without some of its lessons: without `snapshot` every event costs a ConfigService.Get round
 * trip; without `batching` every event is published as its own message (id `enn-<p>:<seq>:<index>`, so a replay
 * is still dropped by the duplicate window). Events of one account keep their order.
 */
export function createNaiveEnrichHandler(
  options: NaiveEnrichOptions,
): (turn: Envelope<EventBatch>[], ctx?: TurnContext) => Promise<void> {
  const { bus, partition, mode, limit, epoch } = options;
  const subject = subjects.of('enriched', partition);
  const useSnapshot = mode.features.has('snapshot');
  const batching = mode.features.has('batching');

  const enrich = async (item: Item, ctx: TurnContext | undefined): Promise<EnrichedEvent> => {
    const position = positionOf(item.seq, item.index);
    if (useSnapshot) {
      const snapshot = options.snapshot();
      const tenantId = item.event.tenantId;
      return enrichEvent(
        item.event,
        position,
        item.acceptedAtMs,
        snapshot.get(tenantId),
        snapshot.appliedFor(tenantId),
      );
    }
    const get = () => options.getConfig(item.event.tenantId);
    const config = await (ctx ? ctx.wait('config', get) : get());
    return enrichEvent(item.event, position, item.acceptedAtMs, config);
  };

  return async (turn, ctx) => {
    const items: Item[] = [];
    for (const { msg, value } of turn)
      value.events.forEach((event, index) =>
        items.push({ seq: msg.seq, index, acceptedAtMs: value.acceptedAtMs, event }),
      );
    ctx?.addEvents(items.length);
    if (items.length === 0) return;
    const keyOf = (item: Item) => item.event.accountId;

    if (batching) {
      // Config per event, output per turn: enrich concurrently, publish the turn in order.
      const out = new Array<EnrichedEvent>(items.length);
      const indexed = items.map((item, i) => ({ item, i }));
      await runKeyed(
        indexed,
        (x) => keyOf(x.item),
        limit,
        async ({ item, i }) => {
          out[i] = await enrich(item, ctx);
        },
      );
      await publishChunks({
        ctx,
        bus,
        subject,
        idPrefix: `enr-${partition}`,
        firstSeq: turn[0]!.msg.seq,
        lastSeq: turn[turn.length - 1]!.msg.seq,
        items: out,
        maxItems: options.maxOutputEvents ?? DEFAULT_MAX_OUTPUT_EVENTS,
        encode: (events, batchId) =>
          EnrichedBatch.encode({
            batchId,
            partition,
            configVersion: 0n,
            events,
            producerEpoch: BigInt(epoch),
          }).finish(),
      });
      return;
    }

    await runKeyed(items, keyOf, limit, async (item) => {
      const enriched = await enrich(item, ctx);
      const batchId = `enn-${partition}:${item.seq}:${item.index}`;
      const data = EnrichedBatch.encode({
        batchId,
        partition,
        configVersion: enriched.config?.version ?? 0n,
        producerEpoch: BigInt(epoch),
        events: [enriched],
      }).finish();
      const headers = ctx?.outgoingHeaders ? { headers: ctx.outgoingHeaders } : {};
      const publish = () => bus.publish(subject, data, { msgId: batchId, ...headers });
      await (ctx ? ctx.wait('nats', publish) : publish());
    });
  };
}
