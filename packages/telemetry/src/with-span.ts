import { SpanStatusCode, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';

/**
 * Runs `fn` inside an active span named `name`: on a throw the span records the exception and gets an error
 * status; the span always ends, in `finally`.
 */
export async function withSpan<T>(
  tracer: Tracer,
  name: string,
  options: SpanOptions,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      span.recordException(error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      throw err;
    } finally {
      span.end();
    }
  });
}
