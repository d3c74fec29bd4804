/** How bus addresses are formed and checked: partition subjects, dead-letter subjects, durable consumer names. */
import { STAGES, type Stage } from '@throughline/contracts';
import { BusError, BusErrorCode } from './errors.js';
import type { MailboxOptions } from './types.js';

export interface SubjectAddress {
  /** Whether the subject belongs to a stage's stream or to the dead-letter stream. */
  kind: 'stage' | 'deadLetter';
  stage: Stage;
  partition: number;
}

const STAGE_SET: ReadonlySet<string> = new Set(STAGES);
const GROUP_PATTERN = /^[A-Za-z0-9_-]+$/;

/** Parses `tl.<stage>.<p>` or `tl.dead.<stage>.<p>`; `undefined` for any other subject. */
export function parseSubject(subject: string): SubjectAddress | undefined {
  const parts = subject.split('.');
  if (parts[0] !== 'tl') return undefined;
  const kind =
    parts.length === 4 && parts[1] === 'dead' ? 'deadLetter' : parts.length === 3 ? 'stage' : undefined;
  if (kind === undefined) return undefined;
  const stage = kind === 'stage' ? parts[1] : parts[2];
  const partitionText = parts[parts.length - 1] ?? '';
  if (stage === undefined || !STAGE_SET.has(stage) || !/^(0|[1-9][0-9]*)$/.test(partitionText))
    return undefined;
  const partition = Number(partitionText);
  if (!Number.isSafeInteger(partition)) return undefined;
  return { kind, stage: stage as Stage, partition };
}

/** The durable consumer name of a mailbox: `${group}-${stage}-${partition}`. Validates the options. */
export function consumerName(opts: MailboxOptions): string {
  checkMailboxOptions(opts);
  return `${opts.group}-${opts.stage}-${opts.partition}`;
}

export function checkMailboxOptions(opts: MailboxOptions): void {
  if (!GROUP_PATTERN.test(opts.group)) {
    throw new BusError(
      BusErrorCode.invalidArgument,
      `consumer group must match ${String(GROUP_PATTERN)}, got '${opts.group}'`,
    );
  }
  checkStagePartition(opts.stage, opts.partition);
}

export function checkStagePartition(stage: Stage, partition: number): void {
  if (!STAGE_SET.has(stage)) {
    throw new BusError(BusErrorCode.invalidArgument, `unknown stage '${String(stage)}'`);
  }
  if (!Number.isSafeInteger(partition) || partition < 0) {
    throw new BusError(
      BusErrorCode.invalidArgument,
      `partition must be a non-negative integer, got ${partition}`,
    );
  }
}

/** The filter of dead letters of one stage, or of all of them. */
export function deadLetterFilter(stage: Stage | undefined): string {
  return stage === undefined ? 'tl.dead.>' : `tl.dead.${stage}.*`;
}
