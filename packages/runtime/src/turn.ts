import type { BusMessage, DeadLetterPart } from '@throughline/bus';

/** What one turn did and where its time went, for spans, metrics and the demo's summary. */
export interface TurnStats {
  /** The actor's name (the stage: `enrich`, `state`, `writer`). */
  stage: string;
  partition: number;
  messages: number;
  /** Events the handler reported with `addEvents` (0 when it reports none). */
  events: number;
  /** When the turn started, ms since the epoch. */
  startedAtMs: number;
  /** Queue wait: from the oldest message's publication to the start of the turn. */
  queueWaitMs: number;
  /** Wall time of the handler, retries and their pauses included. */
  durationMs: number;
  /** Time spent waiting on each dependency (`redis`, `postgres`, `nats`, `config`, `backoff`), within `durationMs`. */
  dependencyMs: Record<string, number>;
  /** Our own code: `durationMs` less every dependency wait. */
  computeMs: number;
  /** Round trips to external systems made by the turn. */
  externalCalls: number;
  retries: number;
  deadLettered: number;
  /**
   * The lowest and highest event position the turn processed, when the handler reported them: how `throughline
   * trace` finds the turn that carried one event.
   */
  positions?: PositionRange;
}

/** An inclusive range of event positions (positions are int64: `seq << 16 | index`). */
export interface PositionRange {
  first: bigint;
  last: bigint;
}

/** What a handler gets besides its batch: the means to account for its waiting. */
export interface TurnContext {
  readonly partition: number;
  /** Headers for messages this turn publishes (the W3C trace context of the turn), when tracing is on. */
  readonly outgoingHeaders: Record<string, string> | undefined;
  /** The id of the trace the turn's span belongs to, when it is traced and sampled (hex, 32 digits). */
  readonly traceId: string | undefined;
  /**
   * Awaits `work` and books its wall time as waiting on `dependency`, counting `calls` external round trips
   * (default 1). With tracing on, the wait is a child span of the turn.
   */
  wait<T>(dependency: string, work: Promise<T> | (() => Promise<T>), calls?: number): Promise<T>;
  /** Reports how many events the turn processed and, when known, the range of their positions. */
  addEvents(n: number, positions?: PositionRange): void;
  /**
   * Dead-letters one item of a message of the turn (an event of a batch that a deterministic check on its own
   * content refused), with the reason; the rest of the message goes on, and the message is acked with the turn.
   * Idempotent: a retried turn dead-letters the same item once.
   */
  deadLetter(msg: BusMessage, reason: string, part: DeadLetterPart): Promise<void>;
}

/** A tracer's view of one turn (implemented by @throughline/telemetry; the runtime only calls it). */
export interface TurnScope {
  readonly outgoingHeaders: Record<string, string> | undefined;
  /** The trace id of the turn's span, when it is sampled (an unsampled span is never exported). */
  readonly traceId?: string | undefined;
  /** Runs `work` as a child span named for `dependency`. */
  dependency<T>(dependency: string, work: () => Promise<T>): Promise<T>;
  /** Ends the turn's span with its time split. */
  end(stats: TurnStats, error?: Error): void;
}

/** Hooks tracing into turns without the runtime depending on an OpenTelemetry SDK. */
export interface TurnObserver {
  /**
   * `startTimeMs` is when the turn started, on the wall clock (`Date.now()`, the clock its queue wait is measured on);
   * the scope's span covers `durationMs` (measured on the monotonic clock) from it.
   */
  startTurn(info: {
    stage: string;
    partition: number;
    messages: readonly BusMessage[];
    startTimeMs: number;
  }): TurnScope;
}

/** Accumulates a turn's time split while its handler runs. */
export class TurnClock implements TurnContext {
  readonly partition: number;
  readonly outgoingHeaders: Record<string, string> | undefined;
  readonly traceId: string | undefined;
  readonly dependencyMs: Record<string, number> = {};
  externalCalls = 0;
  events = 0;
  positions: PositionRange | undefined;
  private readonly scope: TurnScope | undefined;
  private readonly deadLetterPart: TurnContext['deadLetter'];

  constructor(partition: number, scope: TurnScope | undefined, deadLetter: TurnContext['deadLetter']) {
    this.partition = partition;
    this.scope = scope;
    this.outgoingHeaders = scope?.outgoingHeaders;
    this.traceId = scope?.traceId;
    this.deadLetterPart = deadLetter;
  }

  deadLetter(msg: BusMessage, reason: string, part: DeadLetterPart): Promise<void> {
    return this.wait('nats', () => this.deadLetterPart(msg, reason, part));
  }

  async wait<T>(dependency: string, work: Promise<T> | (() => Promise<T>), calls = 1): Promise<T> {
    const started = performance.now();
    this.externalCalls += calls;
    try {
      // A promise already running is a child span too (started now): every wait booked shows as a span.
      const run = typeof work === 'function' ? work : () => work;
      return await (this.scope ? this.scope.dependency(dependency, run) : run());
    } finally {
      this.book(dependency, performance.now() - started);
    }
  }

  /** Books `ms` of waiting on `dependency` (for waits not wrapped by `wait`, such as retry pauses). */
  book(dependency: string, ms: number): void {
    this.dependencyMs[dependency] = (this.dependencyMs[dependency] ?? 0) + ms;
  }

  addEvents(n: number, positions?: PositionRange): void {
    this.events += n;
    if (positions === undefined) return;
    const seen = this.positions;
    this.positions =
      seen === undefined
        ? { ...positions }
        : {
            first: positions.first < seen.first ? positions.first : seen.first,
            last: positions.last > seen.last ? positions.last : seen.last,
          };
  }

  get totalDependencyMs(): number {
    let total = 0;
    for (const ms of Object.values(this.dependencyMs)) total += ms;
    return total;
  }
}
