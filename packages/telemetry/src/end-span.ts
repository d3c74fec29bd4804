import { SpanStatusCode, type Attributes, type Span, type TimeInput } from '@opentelemetry/api';

/** What is known of a span once its work is over. */
export interface SpanEnding {
  /** Attributes learnt during the work, set before the span ends. */
  attributes?: Attributes;
  /**
   * What failed: an Error is recorded as an exception event and gives the span an error status with its message;
   * a string (a reason, no exception) gives the error status only.
   */
  error?: Error | string | undefined;
  /** When the work ended, when not now: a span that covers a time measured elsewhere. */
  endTime?: TimeInput;
}

/** Ends `span` with what its work found: every span of this package ends here. */
export function endSpan(span: Span, ending: SpanEnding = {}): void {
  const { attributes, error, endTime } = ending;
  if (attributes !== undefined) span.setAttributes(attributes);
  if (error !== undefined) {
    if (typeof error !== 'string') span.recordException(error);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: typeof error === 'string' ? error : error.message,
    });
  }
  span.end(endTime);
}
