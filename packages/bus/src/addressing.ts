/** How bus addresses are formed and checked: partition subjects, dead-letter subjects, durable consumer names. */
import { TOPICS, type Topic } from '@throughline/contracts';
import { BusError, BusErrorCode } from './errors.js';
import type { MailboxOptions } from './types.js';

export interface SubjectAddress {
  /** Whether the subject belongs to a topic's stream or to the dead-letter stream. */
  kind: 'topic' | 'deadLetter';
  topic: Topic;
  partition: number;
}

const TOPIC_SET: ReadonlySet<string> = new Set(TOPICS);
const GROUP_PATTERN = /^[A-Za-z0-9_-]+$/;

/** Parses `tl.<topic>.<p>` or `tl.dead.<topic>.<p>`; `undefined` for any other subject. */
export function parseSubject(subject: string): SubjectAddress | undefined {
  const parts = subject.split('.');
  if (parts[0] !== 'tl') return undefined;
  const kind =
    parts.length === 4 && parts[1] === 'dead' ? 'deadLetter' : parts.length === 3 ? 'topic' : undefined;
  if (kind === undefined) return undefined;
  const topic = kind === 'topic' ? parts[1] : parts[2];
  const partitionText = parts[parts.length - 1] ?? '';
  if (topic === undefined || !TOPIC_SET.has(topic) || !/^(0|[1-9][0-9]*)$/.test(partitionText))
    return undefined;
  const partition = Number(partitionText);
  if (!Number.isSafeInteger(partition)) return undefined;
  return { kind, topic: topic as Topic, partition };
}

/**
 * The durable consumer name of a mailbox: `${group}-${topic}-${partition}`, plus `-e${epoch}` when opened under a
 * lease epoch (so a replaced owner's acks reach no consumer). Validates the options.
 */
export function consumerName(opts: MailboxOptions): string {
  checkMailboxOptions(opts);
  const base = `${opts.group}-${opts.topic}-${opts.partition}`;
  return opts.epoch === undefined || opts.epoch === 0 ? base : `${base}-e${opts.epoch}`;
}

/** The lease epoch in a consumer name of `consumerName` for the same group, topic and partition (0 for none). */
export function consumerEpoch(name: string, opts: MailboxOptions): number | undefined {
  const base = `${opts.group}-${opts.topic}-${opts.partition}`;
  if (name === base) return 0;
  if (!name.startsWith(`${base}-e`)) return undefined;
  const text = name.slice(base.length + 2);
  return /^[1-9][0-9]*$/.test(text) ? Number(text) : undefined;
}

export function checkMailboxOptions(opts: MailboxOptions): void {
  if (!GROUP_PATTERN.test(opts.group)) {
    throw new BusError(
      BusErrorCode.invalidArgument,
      `consumer group must match ${String(GROUP_PATTERN)}, got '${opts.group}'`,
    );
  }
  checkTopicPartition(opts.topic, opts.partition);
  if (opts.epoch !== undefined && (!Number.isSafeInteger(opts.epoch) || opts.epoch < 0)) {
    throw new BusError(
      BusErrorCode.invalidArgument,
      `epoch must be a non-negative integer, got ${opts.epoch}`,
    );
  }
}

export function checkTopicPartition(topic: Topic, partition: number): void {
  if (!TOPIC_SET.has(topic)) {
    throw new BusError(BusErrorCode.invalidArgument, `unknown topic '${String(topic)}'`);
  }
  if (!Number.isSafeInteger(partition) || partition < 0) {
    throw new BusError(
      BusErrorCode.invalidArgument,
      `partition must be a non-negative integer, got ${partition}`,
    );
  }
}

/** The filter of dead letters of one topic, or of all of them. */
export function deadLetterFilter(topic: Topic | undefined): string {
  return topic === undefined ? 'tl.dead.>' : `tl.dead.${topic}.*`;
}
