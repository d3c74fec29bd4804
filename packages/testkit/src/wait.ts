import { WaitTimeoutError } from './errors.js';

export interface WaitForOptions {
  /** Give up after this long. Default: 10_000 ms. */
  timeoutMs?: number;
  /** Pause between probes. Default: 50 ms. */
  intervalMs?: number;
  /**
   * The message of the `WaitTimeoutError` thrown on time-out (or a function giving it then, to say what the last
   * probe saw). Default: "condition not met within N ms".
   */
  message?: string | (() => string);
}

/**
 * Calls `probe` until it returns something other than `undefined` or `false`, and resolves with that.
 *
 * A probe that throws counts as "not yet" (a connection refused while a server starts is the normal case);
 * on time-out the last error thrown becomes the `cause` of the `WaitTimeoutError`.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: WaitForOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const message =
        (typeof opts.message === 'function' ? opts.message() : opts.message) ??
        `condition not met within ${timeoutMs} ms`;
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new WaitTimeoutError(
        message + detail,
        timeoutMs,
        lastError === undefined ? {} : { cause: lastError },
      );
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
