/**
 * Injected dependency latency: a model of a networked deployment on one machine. Each round trip to a dependency
 * waits the given delay (plus uniform jitter) before it is made. Off unless configured; never for production.
 */
import { sleep } from '@throughline/runtime';

export interface LatencyModel {
  /** Mean added delay per round trip, ms. */
  delayMs: number;
  /** Uniform jitter around the delay, ± ms. */
  jitterMs: number;
}

export type LatencySpec = ReadonlyMap<string, LatencyModel>;

const ITEM = /^([a-z][a-z0-9_-]*)=(\d+(?:\.\d+)?)(ms|us|s)?(?:~(\d+(?:\.\d+)?)(ms|us|s)?)?$/;

function toMs(value: string, unit: string | undefined): number {
  const n = Number(value);
  return unit === 's' ? n * 1000 : unit === 'us' ? n / 1000 : n;
}

/**
 * Parses `config=2ms,redis=0.5ms,postgres=2ms~1ms` (`~` gives the jitter; units ms (default), us or s).
 * Throws a RangeError naming the bad item.
 */
export function parseLatencySpec(text: string): LatencySpec {
  const spec = new Map<string, LatencyModel>();
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const m = ITEM.exec(item);
    if (!m)
      throw new RangeError(
        `bad latency item ${JSON.stringify(item)}: expected <dependency>=<delay>[ms|us|s][~<jitter>], e.g. postgres=2ms~0.5ms`,
      );
    const delayMs = toMs(m[2]!, m[3]);
    const jitterMs = m[4] === undefined ? 0 : toMs(m[4], m[5]);
    if (jitterMs > delayMs)
      throw new RangeError(`bad latency item ${JSON.stringify(item)}: jitter exceeds the delay`);
    spec.set(m[1]!, { delayMs, jitterMs });
  }
  return spec;
}

/** Waits the modelled latency of one round trip to `dependency` (nothing when the spec has none). */
export async function injectDelay(
  spec: LatencySpec,
  dependency: string,
  random: () => number = Math.random,
): Promise<void> {
  const model = spec.get(dependency);
  if (model === undefined || model.delayMs <= 0) return;
  const ms = model.delayMs + (random() * 2 - 1) * model.jitterMs;
  if (ms >= 1) await sleep(ms);
  else await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Wraps every method of `target` so each call first waits the latency modelled for `dependency`: one call, one
 * round trip (the stores make exactly one round trip per method call).
 */
export function withInjectedLatency<T extends object>(target: T, spec: LatencySpec, dependency: string): T {
  if (!spec.has(dependency)) return target;
  return new Proxy(target, {
    get(obj, key, receiver) {
      const value: unknown = Reflect.get(obj, key, receiver);
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        await injectDelay(spec, dependency);
        return (value as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}
