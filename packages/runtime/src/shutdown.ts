import { ensureError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';

export interface ShutdownOptions {
  /** Signals that start a graceful shutdown. Default SIGTERM and SIGINT. */
  signals?: NodeJS.Signals[];
  /** After this long the process exits with code 1 even if draining has not finished. Default 25000 ms. */
  timeoutMs?: number;
  logger?: Logger;
  /** How to end the process (tests pass their own). Default `process.exit`. */
  exit?: (code: number) => void;
}

/**
 * Runs `drain` once on the first shutdown signal (stop pulling, finish in-flight turns, ack, close connections),
 * then exits 0; a second signal or the time-out exits at once with 1.
 */
export function onShutdown(
  drain: (signal: NodeJS.Signals) => Promise<void>,
  options: ShutdownOptions = {},
): () => void {
  const { signals = ['SIGTERM', 'SIGINT'], timeoutMs = 25_000, logger = silentLogger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  let draining = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (draining) {
      logger.warn(`second ${signal} during shutdown; exiting now`);
      exit(1);
      return;
    }
    draining = true;
    logger.info(`${signal} received; draining`);
    const timer = setTimeout(() => {
      logger.error(`shutdown did not finish within ${timeoutMs} ms; exiting`);
      exit(1);
    }, timeoutMs);
    timer.unref();
    drain(signal).then(
      () => {
        clearTimeout(timer);
        logger.info('drained; exiting');
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        logger.error('shutdown failed', { error: ensureError(err).message });
        exit(1);
      },
    );
  };
  for (const s of signals) process.on(s, handler);
  return () => {
    for (const s of signals) process.off(s, handler);
  };
}
