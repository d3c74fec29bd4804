/** What a dead letter carries, shared by both implementations. */
import { subjects } from '@throughline/contracts';
import { Headers, type BusMessage, type DeadLetter, type DeadLetterPart } from './types.js';

export interface DeadLetterEnvelope {
  subject: string;
  msgId: string;
  headers: Map<string, string>;
}

/** Where `msg` goes when dead-lettered, its de-duplication id, and its headers (the original ones plus ours). */
export function deadLetterEnvelope(
  msg: BusMessage,
  stream: string,
  reason: string,
  part?: DeadLetterPart,
): DeadLetterEnvelope {
  const headers = new Map(msg.headers);
  const originalMsgId = headers.get(Headers.msgId);
  // The dead letter has its own id; keep the original one under another name.
  headers.delete(Headers.msgId);
  if (originalMsgId !== undefined) headers.set(Headers.deadLetterMsgId, originalMsgId);
  headers.set(Headers.deadLetterReason, reason);
  headers.set(Headers.deadLetterSubject, msg.subject);
  headers.set(Headers.deadLetterSeq, String(msg.seq));
  headers.set(Headers.deadLetterDeliveries, String(msg.deliveryCount));
  if (part !== undefined) headers.set(Headers.deadLetterPart, String(part.index));
  return {
    subject: subjects.deadLetter(msg.topic, msg.partition),
    msgId: part === undefined ? `dead:${stream}:${msg.seq}` : `dead:${stream}:${msg.seq}:${part.index}`,
    headers,
  };
}

/** Reads a stored dead letter back from its subject, body and headers. */
export function toDeadLetter(
  stored: { seq: number; storedAtMs: number },
  subject: string,
  data: Uint8Array,
  headers: ReadonlyMap<string, string>,
): DeadLetter {
  return {
    seq: stored.seq,
    storedAtMs: stored.storedAtMs,
    subject,
    originalSubject: headers.get(Headers.deadLetterSubject) ?? '',
    originalSeq: Number(headers.get(Headers.deadLetterSeq) ?? 0),
    reason: headers.get(Headers.deadLetterReason) ?? '',
    deliveries: Number(headers.get(Headers.deadLetterDeliveries) ?? 0),
    part: headers.has(Headers.deadLetterPart) ? Number(headers.get(Headers.deadLetterPart)) : undefined,
    data,
    headers,
  };
}

/** Default `limit` of `readDeadLetters()`. */
export const DEFAULT_DEAD_LETTER_LIMIT = 100;
/** How long the dead-letter stream keeps a dead letter: 7 days. */
export const DEAD_LETTER_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
