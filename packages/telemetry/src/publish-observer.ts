import {
  SpanKind,
  trace,
  TraceFlags,
  type Context,
  type Link,
  type Tracer,
  context,
} from '@opentelemetry/api';
import { positionOf, type PublishObserver, type SentMessage } from '@throughline/pipeline';
import { endSpan } from './end-span.js';
import { injectHeaders } from './propagation.js';
import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_TL_BATCH_IDS,
  ATTR_TL_EVENTS,
  ATTR_TL_PARTITION,
  ATTR_TL_POSITION_FIRST,
  ATTR_TL_POSITION_LAST,
  ATTR_TL_SEQS,
  ATTR_TL_STAGE,
  MESSAGING_SYSTEM_NATS,
} from './semconv.js';

/**
 * Traces ingest's publishes: one `publish tl.ingested.<p>` PRODUCER span per batch, a child of the first sampled
 * request whose events it carries (else the first) and linked to every other one, so each request's trace is
 * reachable from the batch.
 */
export function createPublishObserver(tracer: Tracer): PublishObserver {
  return {
    capture: () => context.active(),
    startPublish({ subject, partition, events, messages, requests }) {
      const contexts = requests as Context[];
      // The parent is the first *sampled* request, if any: then the publish (and, through the links, every hop
      // after it) is kept whenever one of the requests it carries is, whichever came first.
      const sampled = contexts.findIndex(
        (ctx) => ((trace.getSpanContext(ctx)?.traceFlags ?? 0) & TraceFlags.SAMPLED) !== 0,
      );
      const first = Math.max(0, sampled);
      const parent = contexts[first] ?? context.active();
      const links: Link[] = [];
      const seen = new Set<string>();
      for (const ctx of contexts.filter((_, i) => i !== first)) {
        const sc = trace.getSpanContext(ctx);
        if (sc === undefined || !trace.isSpanContextValid(sc) || seen.has(sc.spanId)) continue;
        seen.add(sc.spanId);
        links.push({ context: sc });
      }
      const span = tracer.startSpan(
        `publish ${subject}`,
        {
          kind: SpanKind.PRODUCER,
          links,
          attributes: {
            [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_NATS,
            [ATTR_MESSAGING_DESTINATION_NAME]: subject,
            [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: String(partition),
            [ATTR_MESSAGING_OPERATION_TYPE]: 'send',
            [ATTR_MESSAGING_OPERATION_NAME]: 'publish',
            [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: messages,
            [ATTR_TL_STAGE]: 'ingest',
            [ATTR_TL_PARTITION]: partition,
            [ATTR_TL_EVENTS]: events,
          },
        },
        parent,
      );
      return {
        headers: injectHeaders(trace.setSpan(parent, span)),
        end(error?: Error, sent?: readonly SentMessage[]) {
          if (sent === undefined || sent.length === 0) {
            endSpan(span, { error });
            return;
          }
          const stored = [...sent].sort((a, b) => a.seq - b.seq);
          const lastOne = stored[stored.length - 1]!;
          endSpan(span, {
            error,
            attributes: {
              [ATTR_TL_BATCH_IDS]: stored.map((m) => m.batchId).join(','),
              [ATTR_TL_SEQS]: stored.map((m) => m.seq).join(','),
              [ATTR_TL_POSITION_FIRST]: positionOf(stored[0]!.seq, 0).toString(),
              [ATTR_TL_POSITION_LAST]: positionOf(lastOne.seq, Math.max(0, lastOne.events - 1)).toString(),
            },
          });
        },
      };
    },
  };
}
