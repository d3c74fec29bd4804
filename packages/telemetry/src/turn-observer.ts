import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  TraceFlags,
  type Attributes,
  type Tracer,
} from '@opentelemetry/api';
import type { TurnObserver, TurnScope, TurnStats } from '@throughline/runtime';
import { endSpan } from './end-span.js';
import type { PipelineMetrics } from './metrics.js';
import { injectHeaders, linksFrom } from './propagation.js';
import {
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_TL_COMPUTE_MS,
  ATTR_TL_DEAD_LETTERED,
  ATTR_TL_DEPENDENCY,
  ATTR_TL_DEPENDENCY_MS,
  ATTR_TL_EVENTS,
  ATTR_TL_EXTERNAL_CALLS,
  ATTR_TL_PARTITION,
  ATTR_TL_POSITION_FIRST,
  ATTR_TL_POSITION_LAST,
  ATTR_TL_QUEUE_WAIT_MS,
  ATTR_TL_RETRIES,
  ATTR_TL_STAGE,
  attrDependencyMs,
  MESSAGING_SYSTEM_NATS,
} from './semconv.js';

export interface TurnObserverOptions {
  tracer: Tracer;
  /** Records each turn's figures as metrics too, when given. */
  metrics?: PipelineMetrics;
}

/**
 * Traces turns the way the messaging conventions ask for batches: each turn is a `process <subject>` CONSUMER
 * span that links to the producer context of every message it processes (not a parent it does not have), with
 * one child span per dependency wait, and the turn's time split as attributes. Messages the turn publishes carry
 * the turn span's context, so following links leads from a writer commit back to the ingest request.
 */
export function createTurnObserver(options: TurnObserverOptions): TurnObserver {
  const { tracer, metrics } = options;
  return {
    startTurn({ stage, partition, messages, startTimeMs }): TurnScope {
      const subject = messages[0]?.subject ?? 'unknown';
      const span = tracer.startSpan(
        `process ${subject}`,
        {
          kind: SpanKind.CONSUMER,
          startTime: startTimeMs,
          links: linksFrom(messages.map((m) => m.headers)),
          attributes: {
            [ATTR_MESSAGING_SYSTEM]: MESSAGING_SYSTEM_NATS,
            [ATTR_MESSAGING_DESTINATION_NAME]: subject,
            [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: String(partition),
            [ATTR_MESSAGING_OPERATION_TYPE]: 'process',
            [ATTR_MESSAGING_OPERATION_NAME]: 'process',
            [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: stage,
            [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: messages.length,
            [ATTR_TL_STAGE]: stage,
            [ATTR_TL_PARTITION]: partition,
          },
        },
        ROOT_CONTEXT,
      );
      const spanContext = trace.setSpan(context.active(), span);
      const { traceId, traceFlags } = span.spanContext();
      metrics?.turnStarted(stage);
      return {
        outgoingHeaders: injectHeaders(spanContext),
        traceId: (traceFlags & TraceFlags.SAMPLED) !== 0 ? traceId : undefined,
        dependency<T>(dependency: string, work: () => Promise<T>): Promise<T> {
          return tracer.startActiveSpan(
            `wait ${dependency}`,
            {
              kind: SpanKind.CLIENT,
              attributes: { [ATTR_TL_DEPENDENCY]: dependency, [ATTR_TL_STAGE]: stage },
            },
            spanContext,
            async (child) => {
              try {
                const result = await work();
                endSpan(child);
                return result;
              } catch (err) {
                endSpan(child, { error: err instanceof Error ? err.message : String(err) });
                throw err;
              }
            },
          );
        },
        end(stats: TurnStats, error?: Error): void {
          const attributes: Attributes = {};
          let dependencyTotal = 0;
          for (const [dependency, ms] of Object.entries(stats.dependencyMs)) {
            attributes[attrDependencyMs(dependency)] = ms;
            dependencyTotal += ms;
          }
          Object.assign(attributes, {
            [ATTR_TL_EVENTS]: stats.events,
            [ATTR_TL_QUEUE_WAIT_MS]: stats.queueWaitMs,
            [ATTR_TL_DEPENDENCY_MS]: dependencyTotal,
            [ATTR_TL_COMPUTE_MS]: stats.computeMs,
            [ATTR_TL_EXTERNAL_CALLS]: stats.externalCalls,
            [ATTR_TL_RETRIES]: stats.retries,
            [ATTR_TL_DEAD_LETTERED]: stats.deadLettered,
          });
          if (stats.positions !== undefined) {
            // Decimal strings: positions are int64 and exceed a double's exact integers.
            attributes[ATTR_TL_POSITION_FIRST] = stats.positions.first.toString();
            attributes[ATTR_TL_POSITION_LAST] = stats.positions.last.toString();
          }
          // The span covers exactly the turn the split accounts for.
          endSpan(span, { attributes, error, endTime: startTimeMs + stats.durationMs });
          metrics?.turnEnded(stats);
        },
      };
    },
  };
}
