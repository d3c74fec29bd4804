/**
 * @throughline/bus — the message bus of throughline: one interface (`Bus`), two implementations with the same
 * semantics, checked by one conformance suite.
 *
 * - `connectJetStreamBus` / `createJetStreamBus`: NATS JetStream (distributed mode). One work-queue stream per topic,
 *   one subject per partition, one durable pull consumer per (consumer group, topic, partition), dead letters kept
 *   7 days in `TL_DEAD_LETTER`. Works with nats-server 2.9 and newer.
 * - `createMemoryBus`: in one process (embedded mode), no server.
 *
 * Delivery is at least once and in stream order per partition; a mailbox whose previous owner died restarts at the
 * first unacknowledged message. Publishes are de-duplicated on `msgId` within the duplicate window.
 *
 * ```ts
 * import { connectJetStreamBus } from '@throughline/bus';
 * import { subjects } from '@throughline/contracts';
 *
 * const bus = await connectJetStreamBus({ servers: 'nats://127.0.0.1:4222', name: 'enrich' });
 * await bus.ensureTopology();
 * await bus.publish(subjects.of('ingested', 3), bytes, { msgId: 'batch-42', headers: { traceparent } });
 *
 * const mailbox = await bus.openMailbox({ group: 'enrich', topic: 'ingested', partition: 3 });
 * for (;;) {
 *   const batch = await mailbox.next({ maxMessages: 16, maxWaitMs: 1000 });
 *   for (const msg of batch) {
 *     // … process msg.data, publish the output …
 *     await msg.ack();
 *   }
 * }
 * ```
 */
export {
  Headers,
  type Bus,
  type BusMessage,
  type BusSettings,
  type ConsumerBacklog,
  type DeadLetter,
  type DeadLetterPart,
  type LeaseBucket,
  type LeaseEntry,
  type LeaseWatch,
  type Logger,
  type Mailbox,
  type MailboxOptions,
  type PublishAck,
  type PublishOptions,
} from './types.js';
export { BusError, BusErrorCode, ensureError, isBusError } from './errors.js';
export {
  ackWaitForDelivery,
  defaultBusSettings,
  redeliveryBackoffMs,
  resolveBusSettings,
  type ResolvedBusSettings,
} from './settings.js';
export { consumerName, parseSubject, type SubjectAddress } from './addressing.js';
export { CLIENT_BUCKET, LEASE_BUCKET } from './leases/jetstream-lease-bucket.js';
export { creationSubject, sequenceFloor, topicStreamConfig } from './jetstream/topology.js';
export { checkNatsAuth, type NatsAuth } from './jetstream/auth.js';
export { newBearerToken, readSecretFile, tokenSha256 } from './secret-file.js';
export {
  connectJetStreamBus,
  createJetStreamBus,
  type ConnectJetStreamBusOptions,
  type CreateJetStreamBusOptions,
} from './jetstream.js';
export { createMemoryBus, type MemoryBusOptions } from './memory.js';
