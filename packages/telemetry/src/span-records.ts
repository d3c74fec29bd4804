/** Spans as `explain` needs them, read from OTLP JSON or from Jaeger's query API. */
export interface SpanRecord {
  name: string;
  traceId: string;
  spanId: string;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number | boolean>;
  /** Span contexts this span links to (`traceId/spanId`). */
  links: { traceId: string; spanId: string }[];
  parentSpanId?: string;
  service?: string;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: { key: string; value: OtlpValue }[];
  links?: { traceId: string; spanId: string }[];
}
interface OtlpRequest {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: OtlpValue }[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

function valueOf(v: OtlpValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return '';
}

function nanosToMs(n: string | number): number {
  return typeof n === 'number' ? n / 1e6 : Number(BigInt(n) / 1000n) / 1000;
}

/** Reads spans from OTLP/HTTP JSON export requests (ids as hex, as the OTLP JSON mapping specifies). */
export function spansFromOtlpJson(requests: readonly unknown[]): SpanRecord[] {
  const out: SpanRecord[] = [];
  for (const request of requests as OtlpRequest[]) {
    for (const rs of request.resourceSpans ?? []) {
      const serviceAttr = rs.resource?.attributes?.find((a) => a.key === 'service.name');
      const service = serviceAttr ? String(valueOf(serviceAttr.value)) : undefined;
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const attributes: SpanRecord['attributes'] = {};
          for (const a of s.attributes ?? []) attributes[a.key] = valueOf(a.value);
          out.push({
            name: s.name,
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
            startMs: nanosToMs(s.startTimeUnixNano),
            endMs: nanosToMs(s.endTimeUnixNano),
            attributes,
            links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
            ...(service ? { service } : {}),
          });
        }
      }
    }
  }
  return out;
}

/** Parses a file of OTLP JSON: one request, an array of requests, or one request per line. */
export function parseOtlpJsonFile(text: string): SpanRecord[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  try {
    const parsed: unknown = JSON.parse(trimmed);
    return spansFromOtlpJson(Array.isArray(parsed) ? parsed : [parsed]);
  } catch {
    return spansFromOtlpJson(
      trimmed
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as unknown),
    );
  }
}

interface JaegerTrace {
  spans: {
    traceID: string;
    spanID: string;
    operationName: string;
    startTime: number;
    duration: number;
    processID: string;
    tags?: { key: string; value: string | number | boolean }[];
    references?: { refType: string; traceID: string; spanID: string }[];
  }[];
  processes: Record<string, { serviceName: string }>;
}

/** Reads spans from the `data` of Jaeger's query API (`/api/traces`). Times there are microseconds. */
export function spansFromJaeger(traces: readonly unknown[]): SpanRecord[] {
  const out: SpanRecord[] = [];
  for (const t of traces as JaegerTrace[]) {
    for (const s of t.spans) {
      const attributes: SpanRecord['attributes'] = {};
      for (const tag of s.tags ?? []) attributes[tag.key] = tag.value;
      const parent = s.references?.find((r) => r.refType === 'CHILD_OF');
      const service = t.processes[s.processID]?.serviceName;
      out.push({
        name: s.operationName,
        traceId: s.traceID,
        spanId: s.spanID,
        ...(parent ? { parentSpanId: parent.spanID } : {}),
        startMs: s.startTime / 1000,
        endMs: (s.startTime + s.duration) / 1000,
        attributes,
        links: (s.references ?? [])
          .filter((r) => r.refType === 'FOLLOWS_FROM')
          .map((r) => ({ traceId: r.traceID, spanId: r.spanID })),
        ...(service ? { service } : {}),
      });
    }
  }
  return out;
}

/** The parts of an OpenTelemetry SDK `ReadableSpan` that `explain` reads (structural, so no SDK import here). */
export interface ReadableSpanLike {
  name: string;
  startTime: [number, number];
  endTime: [number, number];
  attributes: Record<string, unknown>;
  links: { context: { traceId: string; spanId: string } }[];
  spanContext(): { traceId: string; spanId: string };
  parentSpanContext?: { spanId: string } | undefined;
  resource?: { attributes: Record<string, unknown> };
}

const hrToMs = (t: [number, number]): number => t[0] * 1000 + t[1] / 1e6;

/** Reads spans finished in this process (for example from an in-memory exporter). */
export function spansFromReadable(spans: readonly ReadableSpanLike[]): SpanRecord[] {
  return spans.map((s) => {
    const attributes: SpanRecord['attributes'] = {};
    for (const [k, v] of Object.entries(s.attributes)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attributes[k] = v;
    }
    const { traceId, spanId } = s.spanContext();
    const service = s.resource?.attributes['service.name'];
    return {
      name: s.name,
      traceId,
      spanId,
      ...(s.parentSpanContext ? { parentSpanId: s.parentSpanContext.spanId } : {}),
      startMs: hrToMs(s.startTime),
      endMs: hrToMs(s.endTime),
      attributes,
      links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId })),
      ...(typeof service === 'string' ? { service } : {}),
    };
  });
}
