import type { Bus } from '@throughline/bus';
import { EnrichedBatch, EventBatch, partitionOf, subjects, type EnrichedEvent } from '@throughline/contracts';
import { enrichEvent } from '@throughline/ledger';
import type { Envelope, TurnContext } from '@throughline/runtime';
import type { BusMessage } from '@throughline/bus';
import { positionRange } from './position-range.js';
import { PipelineError, PipelineErrorCode } from './errors.js';
import type { ConfigSnapshot } from './config-snapshot.js';
import { MAX_EVENTS_PER_MESSAGE } from './ingest-publisher.js';
import { publishChunks } from './publish-chunks.js';
import { describeViolation, validateEvent } from './validation.js';

/** Events per message the enrich and state stages publish. Default for `maxOutputEvents`. */
export const DEFAULT_MAX_OUTPUT_EVENTS = 2000;

/**
 * The position of the `index`-th event of the ingested message stored at stream sequence `seq`: strictly
 * increasing in the partition, and the same on every redelivery.
 */
export function positionOf(seq: number, index: number): bigint {
  return (BigInt(seq) << 16n) | BigInt(index);
}

export function decodeEventBatch(msg: BusMessage): EventBatch {
  const batch = EventBatch.decode(msg.data);
  if (batch.events.length > MAX_EVENTS_PER_MESSAGE) {
    throw new PipelineError(
      PipelineErrorCode.poison,
      `batch of ${batch.events.length} events exceeds ${MAX_EVENTS_PER_MESSAGE}`,
    );
  }
  return batch;
}

export interface EnrichStageOptions {
  bus: Bus;
  partition: number;
  /** Partitions of the pipeline: an event whose account hashes to another partition is refused. */
  partitionCount: number;
  /**
   * The lease epoch of this instance for the partition: it goes on every published batch (and into its id), so
   * the state stage can drop what an instance that lost its lease still publishes.
   */
  epoch: number;
  /** The current configuration snapshot; read once per turn. */
  snapshot: () => ConfigSnapshot;
  /** Events per published message. Default 2000. */
  maxOutputEvents?: number;
}

/**
 * Why an event of an ingested batch can never be processed, or undefined: the checks ingest applies to every
 * event it accepts, and its account's partition (unless `partitionCount` is undefined). Only a producer that bypassed
 * ingest can publish such an event.
 */
export function poisonReason(
  event: EventBatch['events'][number],
  index: number,
  partition: number,
  partitionCount: number | undefined,
): string | undefined {
  const violation = validateEvent(event, index);
  if (violation !== undefined)
    return `event ${JSON.stringify(event.eventId.slice(0, 128))}: ${describeViolation(violation)}`;
  if (partitionCount === undefined) return undefined;
  const owner = partitionOf(event.accountId, partitionCount);
  if (owner !== partition)
    return `event ${JSON.stringify(event.eventId.slice(0, 128))}: events[${index}].account_id: belongs to partition ${owner}, published to ${partition}`;
  return undefined;
}

/**
 * The enrich stage's turn: every event of the turn is enriched with one consistent configuration snapshot (its
 * version recorded on every event), given its position, and published to `tl.enriched.<p>`. An event that fails
 * ingest's checks (published by something other than ingest) is dead-lettered alone, as a batch of one with its
 * reason, and the rest goes on; positions stay those of the ingested message.
 */
export function createEnrichHandler(
  options: EnrichStageOptions,
): (turn: Envelope<EventBatch>[], ctx?: TurnContext) => Promise<void> {
  const { bus, partition, epoch, partitionCount } = options;
  const maxOutputEvents = options.maxOutputEvents ?? DEFAULT_MAX_OUTPUT_EVENTS;
  const subject = subjects.of('enriched', partition);
  return async (turn, ctx) => {
    // The snapshot is in memory: reading it is no round trip, but the span tree shows which version was used.
    const snapshot = ctx
      ? await ctx.wait('config', () => Promise.resolve(options.snapshot()), 0)
      : options.snapshot();
    const out: EnrichedEvent[] = [];
    for (const { msg, value } of turn) {
      const acceptedAtMs = value.acceptedAtMs;
      for (const [i, event] of value.events.entries()) {
        const poison = poisonReason(event, i, partition, partitionCount);
        if (poison !== undefined) {
          if (ctx === undefined) throw new PipelineError(PipelineErrorCode.poison, `enrich: ${poison}`);
          await ctx.deadLetter(msg, `enrich: ${poison}`, {
            index: i,
            data: EventBatch.encode({
              ...value,
              events: [event],
              redrivenFrom: i < value.redrivenFrom.length ? [value.redrivenFrom[i]!] : [],
            }).finish(),
          });
          continue;
        }
        const enriched = enrichEvent(
          event,
          positionOf(msg.seq, i),
          acceptedAtMs,
          snapshot.get(event.tenantId),
          snapshot.appliedFor(event.tenantId),
        );
        // A redriven event carries the position its id was claimed for before it was dead-lettered.
        enriched.redrivenFrom = value.redrivenFrom[i] ?? 0n;
        out.push(enriched);
      }
    }
    ctx?.addEvents(
      out.length,
      positionRange(out, (e) => e.position),
    );
    if (out.length === 0) return;
    await publishChunks({
      ctx,
      bus,
      subject,
      idPrefix: `enr-${partition}-e${epoch}`,
      firstSeq: turn[0]!.msg.seq,
      lastSeq: turn[turn.length - 1]!.msg.seq,
      items: out,
      maxItems: maxOutputEvents,
      encode: (events, batchId) =>
        EnrichedBatch.encode({
          batchId,
          partition,
          configVersion: snapshot.version,
          events,
          producerEpoch: BigInt(epoch),
        }).finish(),
    });
  };
}
