import { pino, type DestinationStream, type Logger as Pino } from 'pino';
import { redactSecrets, redactValue, type Logger } from '@throughline/runtime';

/**
 * A JSON-lines logger on stdout for a service, adapted to the runtime's `Logger` (message first, fields second).
 * Messages and fields are redacted: no password, token or seed reaches the log, whatever an error quotes.
 */
export function createLogger(
  service: string,
  level = 'info',
  base: Record<string, unknown> = {},
  destination?: DestinationStream,
): Logger & { pino: Pino } {
  const options = { name: service, level, base: { service, ...base } };
  const p = destination === undefined ? pino(options) : pino(options, destination);
  return {
    pino: p,
    debug: (msg, fields) => p.debug(redactValue(fields ?? {}) as object, redactSecrets(msg)),
    info: (msg, fields) => p.info(redactValue(fields ?? {}) as object, redactSecrets(msg)),
    warn: (msg, fields) => p.warn(redactValue(fields ?? {}) as object, redactSecrets(msg)),
    error: (msg, fields) => p.error(redactValue(fields ?? {}) as object, redactSecrets(msg)),
  };
}
