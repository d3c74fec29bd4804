import { pino, type Logger as Pino } from 'pino';
import type { Logger } from '@throughline/runtime';

/** A JSON-lines logger on stdout for a service, adapted to the runtime's `Logger` (message first, fields second). */
export function createLogger(
  service: string,
  level = 'info',
  base: Record<string, unknown> = {},
): Logger & { pino: Pino } {
  const p = pino({ name: service, level, base: { service, ...base } });
  return {
    pino: p,
    debug: (msg, fields) => p.debug(fields ?? {}, msg),
    info: (msg, fields) => p.info(fields ?? {}, msg),
    warn: (msg, fields) => p.warn(fields ?? {}, msg),
    error: (msg, fields) => p.error(fields ?? {}, msg),
  };
}
