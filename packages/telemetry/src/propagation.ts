import { context, propagation, trace, type Context, type Link, type SpanContext } from '@opentelemetry/api';

/** Writes the W3C trace context of `ctx` (default: the active one) into a new header record. */
export function injectHeaders(ctx: Context = context.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

const mapGetter = {
  keys: (carrier: ReadonlyMap<string, string>) => [...carrier.keys()],
  get: (carrier: ReadonlyMap<string, string>, key: string) => {
    const direct = carrier.get(key);
    if (direct !== undefined) return direct;
    for (const [k, v] of carrier) if (k.toLowerCase() === key) return v;
    return undefined;
  },
};

/** The producer's span context carried by a message's headers, when it has a valid one. */
export function extractSpanContext(headers: ReadonlyMap<string, string>): SpanContext | undefined {
  const ctx = propagation.extract(context.active(), headers, mapGetter);
  const spanContext = trace.getSpanContext(ctx);
  return spanContext && trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** One link per distinct producer context among `headers` (a batch links to every message's producer). */
export function linksFrom(headersList: Iterable<ReadonlyMap<string, string>>): Link[] {
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const headers of headersList) {
    const sc = extractSpanContext(headers);
    if (sc === undefined) continue;
    const key = `${sc.traceId}/${sc.spanId}`;
    if (seen.has(key)) continue;
    seen.add(key);
    links.push({ context: sc });
  }
  return links;
}
