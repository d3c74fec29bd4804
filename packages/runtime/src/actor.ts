import type { Bus, BusMessage, Mailbox } from '@throughline/bus';
import { ensureError, isFencedError, isTransientError, RuntimeError, RuntimeErrorCode } from './errors.js';
import { silentLogger, sleep, type Logger } from './logger.js';
import { TurnClock, type TurnContext, type TurnObserver, type TurnStats } from './turn.js';

/** A decoded message with the bus message it came from. */
export interface Envelope<T> {
  readonly msg: BusMessage;
  readonly value: T;
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
   * Processes one turn: every decoded message, in stream order. Must make its output durable before it resolves;
   * the actor acks the messages afterwards. A throw is retried (see `maxAttempts` and `isTransient`).
   */
  handle: (batch: Envelope<T>[], ctx: TurnContext) => Promise<void>;
  /** Largest number of messages one turn takes. Default 64. */
  maxTurnMessages?: number;
  /** How long one pull waits for a first message. Default 1000 ms. */
  pollWaitMs?: number;
  /** Attempts of a turn that fails with a non-transient error before it is split up message by message, and a message that still fails is dead-lettered. Default 3. */
  maxAttempts?: number;
  /** First pause between attempts; it doubles up to `retryMaxMs`. Default 100 ms. */
  retryInitialMs?: number;
  /** Longest pause between attempts. Default 5000 ms. */
  retryMaxMs?: number;
  /** A message delivered more often than this (it took its process down each time) is dead-lettered unprocessed. Default 5. */
  maxDeliveries?: number;
  /** How often a long turn tells the server it is still working on its messages. Default 5000 ms. */
  workingIntervalMs?: number;
  /** Which errors mean a dependency is down (retried without limit). Default `isTransientError`. */
  isTransient?: (err: unknown) => boolean;
  logger?: Logger;
  onTurn?: (stats: TurnStats) => void;
  /** Traces every turn (see @throughline/telemetry). Default: none. */
  observer?: TurnObserver;
}

/**
 * One partition's actor: pulls its mailbox, processes one turn at a time (so per-key state needs no locks) and
 * acks only after the handler has made the turn's output durable. Messages of the partition are processed in
 * stream order; a redelivered message already processed in this actor's lifetime is acked and skipped.
 */
export class PartitionActor<T> {
  readonly name: string;
  readonly partition: number;
  private readonly opts: Required<Omit<PartitionActorOptions<T>, 'onTurn' | 'observer' | 'claim'>> &
    Pick<PartitionActorOptions<T>, 'onTurn' | 'observer' | 'claim'>;
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
      maxAttempts: 3,
      retryInitialMs: 100,
      retryMaxMs: 5000,
      maxDeliveries: 5,
      workingIntervalMs: 5000,
      isTransient: isTransientError,
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
      startTimeMs: performance.timeOrigin + started,
    });
    const clock = new TurnClock(this.partition, scope);
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
      for (const msg of msgs) {
        if (msg.seq <= this.lastSeq) {
          skipped.push(msg);
        } else if (msg.deliveryCount > this.opts.maxDeliveries) {
          stats.deadLettered++;
          await clock.wait('nats', () =>
            this.deadLetter(msg, `delivered ${msg.deliveryCount} times without being acknowledged`),
          );
        } else {
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
      }
      const done = envelopes.length > 0 ? await this.process(envelopes, stats, clock) : [];
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
      stats.externalCalls = clock.externalCalls;
      stats.computeMs = Math.max(0, stats.durationMs - clock.totalDependencyMs);
      scope?.end(stats, failure);
      this.inTurn = false;
      if (failure === undefined) this.opts.onTurn?.(stats);
    }
  }

  /** Processes envelopes with retries; returns the messages to ack (dead-lettered ones are already acked). */
  private async process(envelopes: Envelope<T>[], stats: TurnStats, clock: TurnClock): Promise<BusMessage[]> {
    let attempt = 0;
    let delay = this.opts.retryInitialMs;
    for (;;) {
      const eventsBefore = clock.events;
      try {
        await this.opts.handle(envelopes, clock);
        return envelopes.map((e) => e.msg);
      } catch (raw) {
        clock.events = eventsBefore;
        const err = ensureError(raw);
        // Another instance holds a newer lease: nothing this one does for the partition may count any more.
        if (isFencedError(err))
          throw new RuntimeError(RuntimeErrorCode.fenced, `${this.name} p${this.partition}: ${err.message}`, {
            cause: err,
          });
        if (this.stopping)
          throw new RuntimeError(RuntimeErrorCode.stopped, `${this.name}: stopped during a retry`, {
            cause: err,
          });
        stats.retries++;
        const transient = this.opts.isTransient(err);
        if (!transient) attempt++;
        const context = {
          partition: this.partition,
          attempt,
          messages: envelopes.length,
          error: err.message,
        };
        if (!transient && attempt >= this.opts.maxAttempts) {
          if (envelopes.length > 1) {
            this.opts.logger.warn(
              `${this.name}: turn keeps failing; processing its messages one by one`,
              context,
            );
            const acked: BusMessage[] = [];
            for (const envelope of envelopes) acked.push(...(await this.process([envelope], stats, clock)));
            return acked;
          }
          const [only] = envelopes;
          if (only !== undefined) {
            stats.deadLettered++;
            await clock.wait('nats', () =>
              this.deadLetter(only.msg, `${this.name}: failed ${attempt} times: ${err.message}`),
            );
          }
          return [];
        }
        this.opts.logger.warn(`${this.name}: turn failed, retrying`, {
          ...context,
          transient,
          retryInMs: delay,
        });
        const pauseStart = performance.now();
        await sleep(delay, this.stopController.signal);
        clock.book('backoff', performance.now() - pauseStart);
        delay = Math.min(delay * 2, this.opts.retryMaxMs);
      }
    }
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
