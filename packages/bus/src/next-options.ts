import { BusError, BusErrorCode } from './errors.js';

/** Validates the options of `Mailbox.next()`. */
export function checkNextOptions(opts: { maxMessages: number; maxWaitMs: number }): void {
  if (!Number.isSafeInteger(opts.maxMessages) || opts.maxMessages < 1) {
    throw new BusError(
      BusErrorCode.invalidArgument,
      `maxMessages must be a positive integer, got ${opts.maxMessages}`,
    );
  }
  if (!Number.isFinite(opts.maxWaitMs) || opts.maxWaitMs < 0) {
    throw new BusError(
      BusErrorCode.invalidArgument,
      `maxWaitMs must be a non-negative number, got ${opts.maxWaitMs}`,
    );
  }
}
