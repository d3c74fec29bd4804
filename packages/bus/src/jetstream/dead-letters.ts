/** Reads the dead-letter stream with a short-lived ordered consumer: oldest first, nothing consumed. */
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { subjects, type Topic } from '@throughline/contracts';
import { deadLetterFilter } from '../addressing.js';
import { toDeadLetter } from '../dead-letter.js';
import { BusErrorCode } from '../errors.js';
import type { DeadLetter, Logger } from '../types.js';
import { toHeaderMap } from './message.js';
import { isStreamNotFound, toBusError } from './nats-errors.js';

/** How long one fetch waits for messages the consumer said were pending. */
const FETCH_EXPIRES_MS = 2_000;

export async function readJetStreamDeadLetters(
  js: JetStreamClient,
  topic: Topic | undefined,
  limit: number,
  logger?: Logger,
): Promise<DeadLetter[]> {
  if (limit <= 0) return [];
  const stream = subjects.deadLetterStream;
  let consumer;
  try {
    consumer = await js.consumers.get(stream, {
      filter_subjects: deadLetterFilter(topic),
      deliver_policy: DeliverPolicy.All,
    });
  } catch (err) {
    if (isStreamNotFound(err)) return [];
    throw toBusError(err, BusErrorCode.requestFailed, `read ${stream}`);
  }
  try {
    const letters: DeadLetter[] = [];
    let remaining = Math.min(limit, (await consumer.info(true)).num_pending);
    while (remaining > 0) {
      const batch = await consumer.fetch({ max_messages: remaining, expires: FETCH_EXPIRES_MS });
      let received = 0;
      for await (const msg of batch) {
        letters.push(
          toDeadLetter(
            { seq: msg.seq, storedAtMs: Math.floor(msg.info.timestampNanos / 1e6) },
            msg.subject,
            msg.data,
            toHeaderMap(msg.headers),
          ),
        );
        received++;
      }
      if (received === 0) break;
      remaining -= received;
    }
    return letters;
  } catch (err) {
    throw toBusError(err, BusErrorCode.requestFailed, `read ${stream}`);
  } finally {
    await consumer.delete().catch((err: unknown) => {
      logger?.warn('could not delete the dead-letter reader consumer', { error: String(err) });
    });
  }
}
