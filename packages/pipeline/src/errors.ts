import { CodedError } from '@throughline/runtime';
import { describeViolation, type FieldViolation } from './validation.js';

export const PipelineErrorCode = {
  /** A request holds an invalid event; nothing of it was published. */
  invalidArgument: 'INVALID_ARGUMENT',
  /** Too much work is in flight; retry after `retryAfterMs`. */
  resourceExhausted: 'RESOURCE_EXHAUSTED',
  /** The component is shutting down and takes no new work. */
  unavailable: 'UNAVAILABLE',
  /** A message on the bus can never be processed. */
  poison: 'POISON',
  /** An effect was refused because a newer lease epoch owns the partition: this instance lost it. */
  fenced: 'PIPELINE_FENCED',
} as const;
export type PipelineErrorCode = (typeof PipelineErrorCode)[keyof typeof PipelineErrorCode];

export class PipelineError extends CodedError<PipelineErrorCode> {
  override readonly name: string = 'PipelineError';
  /** For `PIPELINE_FENCED`, when known: the newer lease epoch that owns the partition. */
  readonly currentEpoch: number | undefined;
  /** True for `POISON`: the message's own content can never be processed (the runtime dead-letters it). */
  readonly poison: boolean;
  constructor(
    code: PipelineErrorCode,
    message: string,
    options?: { cause?: unknown; currentEpoch?: number },
  ) {
    super(code, message, options);
    this.currentEpoch = options?.currentEpoch;
    this.poison = code === PipelineErrorCode.poison;
  }
}

/** A request was refused because one of its events is invalid. */
export class InvalidEventError extends PipelineError {
  override readonly name = 'InvalidEventError';
  readonly violation: FieldViolation;
  constructor(violation: FieldViolation) {
    super(PipelineErrorCode.invalidArgument, describeViolation(violation));
    this.violation = violation;
  }
}

/** Work was refused to keep memory bounded; the caller should retry after `retryAfterMs`. */
export class ResourceExhaustedError extends PipelineError {
  override readonly name = 'ResourceExhaustedError';
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number) {
    super(PipelineErrorCode.resourceExhausted, message);
    this.retryAfterMs = retryAfterMs;
  }
}

export function isPipelineError(err: unknown): err is PipelineError {
  return err instanceof PipelineError;
}
export function isResourceExhaustedError(err: unknown): err is ResourceExhaustedError {
  return err instanceof ResourceExhaustedError;
}
export function isInvalidEventError(err: unknown): err is InvalidEventError {
  return err instanceof InvalidEventError;
}
