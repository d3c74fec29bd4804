/**
 * Attribute names used on throughline's spans, in one place.
 *
 * The messaging names are from the OpenTelemetry semantic conventions for messaging (v1.27+, still "development"
 * there, so copied rather than imported from `@opentelemetry/semantic-conventions/incubating`, whose names may
 * change): https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/
 */
export const ATTR_MESSAGING_SYSTEM = 'messaging.system';
export const ATTR_MESSAGING_DESTINATION_NAME = 'messaging.destination.name';
export const ATTR_MESSAGING_DESTINATION_PARTITION_ID = 'messaging.destination.partition.id';
export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count';
export const ATTR_MESSAGING_CONSUMER_GROUP_NAME = 'messaging.consumer.group.name';
export const MESSAGING_SYSTEM_NATS = 'nats';

/** throughline's own attributes: the time split of a turn and what it processed. */
export const ATTR_TL_STAGE = 'tl.stage';
export const ATTR_TL_PARTITION = 'tl.partition';
export const ATTR_TL_EVENTS = 'tl.events';
export const ATTR_TL_QUEUE_WAIT_MS = 'tl.time.queue_wait_ms';
export const ATTR_TL_COMPUTE_MS = 'tl.time.compute_ms';
export const ATTR_TL_DEPENDENCY_MS = 'tl.time.dependency_ms';
/** Per dependency: `tl.time.dependency_ms.redis`, `…postgres`, `…nats`, `…config`. */
export const attrDependencyMs = (dependency: string): string => `${ATTR_TL_DEPENDENCY_MS}.${dependency}`;
export const ATTR_TL_EXTERNAL_CALLS = 'tl.external_calls';
export const ATTR_TL_RETRIES = 'tl.retries';
export const ATTR_TL_DEAD_LETTERED = 'tl.dead_lettered';
/** The dependency a child span waited on. */
export const ATTR_TL_DEPENDENCY = 'tl.dependency';
/**
 * The lowest and highest position (`seq << 16 | index`, as a decimal string) of the events a span processed or
 * published: with the span links, how `throughline trace` finds the spans that carried one event.
 */
export const ATTR_TL_POSITION_FIRST = 'tl.position.first';
export const ATTR_TL_POSITION_LAST = 'tl.position.last';
/** The ids of the messages an ingest publish span sent (comma-separated, in the order of `tl.seqs`). */
export const ATTR_TL_BATCH_IDS = 'tl.batch_ids';
/** The stream sequences those messages were stored at (comma-separated). */
export const ATTR_TL_SEQS = 'tl.seqs';
