import type { Bus, BusMessage, DeadLetterPart, Mailbox } from '@throughline/bus';
import { ensureError, RuntimeError, RuntimeErrorCode } from './errors.js';
import { classifyFailure, type FailureClass } from './failure.js';
import { silentLogger, sleep, type Logger } from './logger.js';
import { TurnClock, type TurnContext, type TurnObserver, type TurnStats } from './turn.js';

/** A partition waiting for a dependency: its turn fails with a dependency error and is retried until it passes. */
export interface Stall {
  readonly stage: string;
  readonly partition: number;
  /** The dependency of the latest failure (`redis`, `postgres`, `nats`, `config`, `unknown`). */
  readonly dependency: string;
  /** Its short reason (`OOM`, `read_only`, `ECONNREFUSED`, …). */
  readonly reason: string;
  /** The latest error's message. */
  readonly error: string;
  /** When the partition stalled, ms since the epoch. */
  readonly sinceMs: number;
  /** Failed attempts so far. */
  readonly attempts: number;
}

/** A decoded message with the bus message it came from. */
export interface Envelope<T> {
  readonly msg: BusMessage;
  readonly value: T;
}

/** One item of a message (an event of a batch): its own value, and what a dead letter of it alone holds. */
export interface Item<T> {
  readonly value: T;
  readonly part: DeadLetterPart;
}

/** An envelope the actor processes: a whole message, or one item of a message split after it failed as poison. */
interface Work<T> extends Envelope<T> {
  readonly part?: DeadLetterPart;
}

export interface PartitionActorOptions<T> {
  /** Name used in logs and dead-letter reasons, usually the stage (`enrich`, `state`, `writer`). */
  name: string;
  partition: number;
  /** Used to dead-letter messages. */
  bus: Bus;
  /** Opens the actor's mailbox (called at every (re)start). */
  openMailbox: () => Promise<Mailbox>;
  /**
   * Runs at every (re)start, before the mailbox opens: makes the stores refuse the effects of the partition's
   * earlier owners (raises the fences to this lease's epoch). A fenced error stops the actor for good.
   */
  claim?: () => Promise<void>;
  /** Decodes one message; a throw sends that message to the dead-letter stream at once. */
  decode: (msg: BusMessage) => T;
  /**
   * Splits a message into its items (the events of a batch), each a value the handler takes like a message of its
   * own. When given, a lone message that fails as poison is split and its items bisected in turn, so only the items
   * that fail are dead-lettered (each alone, with `part`) and the rest of the message is processed, in order; the
   * message is acked once all of them are. Undefined (or fewer than two items): the message is dead-lettered whole.
   * The handler must treat an item as it would a message holding that item alone, at the message's sequence.
   */
  split?: (envelope: Envelope<T>) => Item<T>[] | undefined;
  /**
   * Processes one turn: every decoded message, in stream order. Must make its output durable before it resolves;
   * the actor acks the messages afterwards. A throw is classified (`classify`): a dependency's failure is retried
   * without limit, the partition paused in order; poison is isolated by bisecting the turn and dead-lettered
   * message by message; a fenced error stops the actor.
   */
  handle: (batch: Envelope<T>[], ctx: TurnContext) => Promise<void>;
  /** Largest number of messages one turn takes. Default 64. */
  maxTurnMessages?: number;
  /** How long one pull waits for a first message. Default 1000 ms. */
  pollWaitMs?: number;
  /** Times a lone message must fail as poison before it is dead-lettered (poison is deterministic). Default 2. */
  poisonAttempts?: number;
  /** First pause between attempts of a turn waiting for a dependency; it doubles up to `retryMaxMs`. Default 100 ms. */
  retryInitialMs?: number;
  /** Longest pause between attempts. Default 5000 ms. */
  retryMaxMs?: number;
  /**
   * A message delivered more often than this without being acknowledged (its turns took the process down) is
   * processed alone, so whatever it does cannot hold back the messages around it. Default 5.
   */
  maxDeliveries?: number;
  /** How often a long turn tells the server it is still working on its messages. Default 5000 ms. */
  workingIntervalMs?: number;
  /** How often a stalled partition is logged again (it is logged when it stalls and when it resumes). Default 30000 ms. */
  stallLogIntervalMs?: number;
  /** What a failed turn's error says about its messages. Default `classifyFailure`. */
  classify?: (err: unknown) => FailureClass;
  /** Called at every failed attempt of a turn, with its classification. */
  onFailure?: (failure: FailureClass) => void;
  /** Called at every failed attempt of a turn waiting for a dependency, with the stall so far. */
  onStall?: (stall: Stall) => void;
  /** Called when a stalled partition goes on (its turn passed, or the actor stopped), with how long it stalled. */
  onStallEnd?: (stall: Stall, stalledMs: number) => void;
  logger?: Logger;
  onTurn?: (stats: TurnStats) => void;
  /** Traces every turn (see @throughline/telemetry). Default: none. */
  observer?: TurnObserver;
}

type OptionalHook = 'onTurn' | 'observer' | 'claim' | 'onFailure' | 'onStall' | 'onStallEnd' | 'split';

/**
 * One partition's actor: pulls its mailbox, processes one turn at a time (so per-key state needs no locks) and
 * acks only after the handler has made the turn's output durable. Messages of the partition are processed in
 * stream order; a redelivered message already processed in this actor's lifetime is acked and skipped.
 */
export class PartitionActor<T> {
  readonly name: string;
  readonly partition: number;
  private readonly opts: Required<Omit<PartitionActorOptions<T>, OptionalHook>> &
    Pick<PartitionActorOptions<T>, OptionalHook>;
  private readonly stopController = new AbortController();
  private mailbox: Mailbox | undefined;
  private lastSeq = 0;
  private running: Promise<void> | undefined;
  private inTurn = false;

  constructor(options: PartitionActorOptions<T>) {
    this.name = options.name;
    this.partition = options.partition;
    this.opts = {
      maxTurnMessages: 64,
      pollWaitMs: 1000,
      poisonAttempts: 2,
      retryInitialMs: 100,
      retryMaxMs: 5000,
      maxDeliveries: 5,
      workingIntervalMs: 5000,
      stallLogIntervalMs: 30_000,
      classify: classifyFailure,
      logger: silentLogger,
      ...options,
    };
  }

  get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** True while a turn is being processed. */
  get busy(): boolean {
    return this.inTurn;
  }

  /** Runs until `stop()`; rejects if the mailbox fails (the supervisor restarts the actor). */
  run(): Promise<void> {
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops pulling, lets the turn in progress finish and ack, then closes the mailbox. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await this.mailbox?.close();
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    await this.opts.claim?.();
    if (this.stopping) return;
    this.mailbox = await this.opts.openMailbox();
    try {
      while (!this.stopping) {
        const msgs = await this.mailbox.next({
          maxMessages: this.opts.maxTurnMessages,
          maxWaitMs: this.opts.pollWaitMs,
        });
        if (msgs.length === 0) {
          // A mailbox closed under the actor answers [] at once: stop (the supervisor decides what next) instead
          // of spinning on it, which would starve timers and I/O of the whole process.
          if (this.mailbox.closed && !this.stopping)
            throw new RuntimeError(
              RuntimeErrorCode.stopped,
              `${this.name} p${this.partition}: mailbox closed`,
            );
          continue;
        }
        await this.turn(msgs);
      }
    } finally {
      await this.mailbox.close();
    }
  }

  private async turn(msgs: BusMessage[]): Promise<void> {
    this.inTurn = true;
    const startedAtMs = Date.now();
    const started = performance.now();
    const scope = this.opts.observer?.startTurn({
      stage: this.name,
      partition: this.partition,
      messages: msgs,
      // The wall clock the queue wait is measured on (message timestamps are the server's wall clock), and the one
      // the tracing SDK starts its own spans on. `performance.timeOrigin + performance.now()` drifts away from it
      // in a long-running process (NTP slewing), which put a turn's start tens of ms before its messages existed.
      startTimeMs: startedAtMs,
    });
    const clock = new TurnClock(this.partition, scope, async (msg, reason, part) => {
      stats.deadLettered++;
      await this.deadLetterItem(msg, reason, part);
    });
    const stats: TurnStats = {
      stage: this.name,
      partition: this.partition,
      messages: msgs.length,
      events: 0,
      startedAtMs,
      queueWaitMs: Math.max(0, startedAtMs - Math.min(...msgs.map((m) => m.publishedAtMs))),
      durationMs: 0,
      dependencyMs: clock.dependencyMs,
      computeMs: 0,
      externalCalls: 0,
      retries: 0,
      deadLettered: 0,
    };
    const working = setInterval(() => {
      for (const m of msgs) m.working();
    }, this.opts.workingIntervalMs);
    let failure: Error | undefined;
    try {
      const envelopes: Envelope<T>[] = [];
      const skipped: BusMessage[] = [];
      let suspect = false;
      for (const msg of msgs) {
        if (msg.seq <= this.lastSeq) {
          skipped.push(msg);
          continue;
        }
        if (msg.deliveryCount > this.opts.maxDeliveries) suspect = true;
        let value: T;
        try {
          value = this.opts.decode(msg);
        } catch (err) {
          stats.deadLettered++;
          await clock.wait('nats', () =>
            this.deadLetter(msg, `${this.name}: cannot decode message: ${ensureError(err).message}`),
          );
          continue;
        }
        envelopes.push({ msg, value });
      }
      let done: BusMessage[] = [];
      if (suspect) {
        // Turns holding these messages never finished: take them one at a time, so a message that takes the
        // process down holds back nothing but itself (and shows in the logs as the turn that did not finish).
        this.opts.logger.warn(
          `${this.name}: messages redelivered after unfinished turns; processing them one by one`,
          {
            partition: this.partition,
            seqs: envelopes.map((e) => e.msg.seq),
          },
        );
        for (const envelope of envelopes) done.push(...(await this.process([envelope], stats, clock)));
      } else if (envelopes.length > 0) {
        done = await this.process(envelopes, stats, clock);
      }
      const toAck = [...done, ...skipped];
      if (toAck.length > 0)
        await clock.wait('nats', () => Promise.all(toAck.map((m) => m.ack())), toAck.length);
      for (const m of msgs) if (m.seq > this.lastSeq) this.lastSeq = m.seq;
    } catch (err) {
      failure = ensureError(err);
      throw err;
    } finally {
      clearInterval(working);
      stats.durationMs = performance.now() - started;
      stats.events = clock.events;
      if (clock.positions !== undefined) stats.positions = clock.positions;
      stats.externalCalls = clock.externalCalls;
      stats.computeMs = Math.max(0, stats.durationMs - clock.totalDependencyMs);
      scope?.end(stats, failure);
      this.inTurn = false;
      if (failure === undefined) this.opts.onTurn?.(stats);
    }
  }

  /**
   * Processes envelopes until they pass; returns the messages to ack (dead-lettered ones are already acked). A
   * dependency's failure is waited out (capped exponential backoff, without limit; the partition is reported
   * stalled meanwhile); poison is bisected until the lone messages that fail are found and dead-lettered (or, with
   * `split`, their items), the others processed in order.
   */
  private async process(envelopes: Work<T>[], stats: TurnStats, clock: TurnClock): Promise<BusMessage[]> {
    let delay = this.opts.retryInitialMs;
    let poisonFailures = 0;
    let stall: { info: Stall; loggedAt: number } | undefined;
    try {
      for (;;) {
        const eventsBefore = clock.events;
        try {
          await this.opts.handle(envelopes, clock);
          return envelopes.map((e) => e.msg);
        } catch (raw) {
          clock.events = eventsBefore;
          const err = ensureError(raw);
          const failure = this.opts.classify(err);
          this.opts.onFailure?.(failure);
          // Another instance holds a newer lease: nothing this one does for the partition may count any more.
          if (failure.kind === 'fenced')
            throw new RuntimeError(
              RuntimeErrorCode.fenced,
              `${this.name} p${this.partition}: ${err.message}`,
              {
                cause: err,
              },
            );
          if (this.stopping)
            throw new RuntimeError(RuntimeErrorCode.stopped, `${this.name}: stopped during a retry`, {
              cause: err,
            });
          stats.retries++;
          if (failure.kind === 'poison') {
            poisonFailures++;
            if (envelopes.length > 1) return await this.bisect(envelopes, stats, clock, err);
            if (poisonFailures >= this.opts.poisonAttempts) {
              const only = envelopes[0]!;
              const items = only.part === undefined ? this.opts.split?.(only) : undefined;
              if (items !== undefined && items.length > 1)
                return await this.isolate(only, items, stats, clock, err);
              stats.deadLettered++;
              const reason = `${this.name}: ${failure.reason}: ${err.message}`;
              await clock.wait('nats', () =>
                only.part === undefined
                  ? this.deadLetter(only.msg, reason)
                  : this.deadLetterItem(only.msg, reason, only.part),
              );
              return [];
            }
          } else {
            stall = this.stalled(stall, failure, err);
          }
          const pauseStart = performance.now();
          await sleep(delay, this.stopController.signal);
          clock.book('backoff', performance.now() - pauseStart);
          delay = Math.min(delay * 2, this.opts.retryMaxMs);
        }
      }
    } finally {
      if (stall !== undefined) {
        const stalledMs = Date.now() - stall.info.sinceMs;
        this.opts.logger.info(`${this.name}: partition resumed`, {
          partition: this.partition,
          dependency: stall.info.dependency,
          stalledMs,
          attempts: stall.info.attempts,
        });
        this.opts.onStallEnd?.(stall.info, stalledMs);
      }
    }
  }

  /**
   * A lone message failed as poison every time: its items are processed instead, in order, bisected like messages,
   * so only the items that fail are dead-lettered. The message is acked once all of them passed or were.
   */
  private async isolate(
    envelope: Envelope<T>,
    items: Item<T>[],
    stats: TurnStats,
    clock: TurnClock,
    err: Error,
  ): Promise<BusMessage[]> {
    this.opts.logger.warn(`${this.name}: message failed on poison; splitting it to find the items`, {
      partition: this.partition,
      seq: envelope.msg.seq,
      items: items.length,
      error: err.message,
    });
    await this.process(
      items.map((item) => ({ msg: envelope.msg, value: item.value, part: item.part })),
      stats,
      clock,
    );
    return [envelope.msg];
  }

  /** Splits a turn that failed as poison in two and processes each half in order, each isolating its own poison. */
  private async bisect(
    envelopes: Work<T>[],
    stats: TurnStats,
    clock: TurnClock,
    err: Error,
  ): Promise<BusMessage[]> {
    this.opts.logger.warn(`${this.name}: turn failed on poison; splitting it to find the messages`, {
      partition: this.partition,
      messages: envelopes.length,
      error: err.message,
    });
    const middle = Math.ceil(envelopes.length / 2);
    const first = await this.process(envelopes.slice(0, middle), stats, clock);
    const second = await this.process(envelopes.slice(middle), stats, clock);
    return [...first, ...second];
  }

  /** Records one more failed attempt on a dependency: logs the stall when it starts, changes, or every while. */
  private stalled(
    previous: { info: Stall; loggedAt: number } | undefined,
    failure: FailureClass,
    err: Error,
  ): { info: Stall; loggedAt: number } {
    const now = Date.now();
    const info: Stall = {
      stage: this.name,
      partition: this.partition,
      dependency: failure.dependency,
      reason: failure.reason,
      error: err.message,
      sinceMs: previous?.info.sinceMs ?? now,
      attempts: (previous?.info.attempts ?? 0) + 1,
    };
    const changed =
      previous === undefined ||
      previous.info.dependency !== info.dependency ||
      previous.info.reason !== info.reason;
    const due = previous === undefined || now - previous.loggedAt >= this.opts.stallLogIntervalMs;
    if (changed || due) {
      this.opts.logger.warn(
        previous === undefined
          ? `${this.name}: partition stalled on a dependency; retrying until it passes`
          : `${this.name}: partition still stalled`,
        {
          partition: this.partition,
          dependency: info.dependency,
          reason: info.reason,
          error: info.error,
          stalledMs: now - info.sinceMs,
          attempts: info.attempts,
        },
      );
    }
    this.opts.onStall?.(info);
    return { info, loggedAt: changed || due ? now : previous.loggedAt };
  }

  private async deadLetterItem(msg: BusMessage, reason: string, part: DeadLetterPart): Promise<void> {
    this.opts.logger.warn(`${this.name}: dead-lettering one item of a message`, {
      partition: this.partition,
      seq: msg.seq,
      item: part.index,
      reason,
    });
    await this.opts.bus.deadLetter(msg, reason, part);
  }

  private async deadLetter(msg: BusMessage, reason: string): Promise<void> {
    this.opts.logger.warn(`${this.name}: dead-lettering message`, {
      partition: this.partition,
      seq: msg.seq,
      reason,
    });
    await this.opts.bus.deadLetter(msg, reason);
  }
}
