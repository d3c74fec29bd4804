import type { Bus, BusMessage, Mailbox } from '@throughline/bus';
import { ensureError, isTransientError, RuntimeError, RuntimeErrorCode } from './errors.js';
import { silentLogger, sleep, type Logger } from './logger.js';

/** A decoded message with the bus message it came from. */
export interface Envelope<T> {
  readonly msg: BusMessage;
  readonly value: T;
}

/** What one turn did, for metrics. */
export interface TurnStats {
  partition: number;
  messages: number;
  /** Time from the oldest message's publication to the start of the turn. */
  queueWaitMs: number;
  /** Wall time of the handler, retries included. */
  handleMs: number;
  retries: number;
  deadLettered: number;
}

export interface PartitionActorOptions<T> {
  /** Name used in logs and dead-letter reasons, usually the stage (`enrich`, `state`, `writer`). */
  name: string;
  partition: number;
  /** Used to dead-letter messages. */
  bus: Bus;
  /** Opens the actor's mailbox (called at every (re)start). */
  openMailbox: () => Promise<Mailbox>;
  /** Decodes one message; a throw sends that message to the dead-letter stream at once. */
  decode: (msg: BusMessage) => T;
  /**
   * Processes one turn: every decoded message, in stream order. Must make its output durable before it resolves;
   * the actor acks the messages afterwards. A throw is retried (see `maxAttempts` and `isTransient`).
   */
  handle: (batch: Envelope<T>[]) => Promise<void>;
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
}

/**
 * One partition's actor: pulls its mailbox, processes one turn at a time (so per-key state needs no locks) and
 * acks only after the handler has made the turn's output durable. Messages of the partition are processed in
 * stream order; a redelivered message already processed in this actor's lifetime is acked and skipped.
 */
export class PartitionActor<T> {
  readonly name: string;
  readonly partition: number;
  private readonly opts: Required<Omit<PartitionActorOptions<T>, 'onTurn'>> & Pick<PartitionActorOptions<T>, 'onTurn'>;
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
    this.mailbox = await this.opts.openMailbox();
    try {
      while (!this.stopping) {
        const msgs = await this.mailbox.next({ maxMessages: this.opts.maxTurnMessages, maxWaitMs: this.opts.pollWaitMs });
        if (msgs.length === 0) continue;
        await this.turn(msgs);
      }
    } finally {
      await this.mailbox.close();
    }
  }

  private async turn(msgs: BusMessage[]): Promise<void> {
    this.inTurn = true;
    const startedAt = Date.now();
    const stats: TurnStats = {
      partition: this.partition,
      messages: msgs.length,
      queueWaitMs: Math.max(0, startedAt - Math.min(...msgs.map((m) => m.publishedAtMs))),
      handleMs: 0,
      retries: 0,
      deadLettered: 0,
    };
    const working = setInterval(() => {
      for (const m of msgs) m.working();
    }, this.opts.workingIntervalMs);
    try {
      const envelopes: Envelope<T>[] = [];
      const skipped: BusMessage[] = [];
      for (const msg of msgs) {
        if (msg.seq <= this.lastSeq) {
          skipped.push(msg);
        } else if (msg.deliveryCount > this.opts.maxDeliveries) {
          stats.deadLettered++;
          await this.deadLetter(msg, `delivered ${msg.deliveryCount} times without being acknowledged`);
        } else {
          let value: T;
          try {
            value = this.opts.decode(msg);
          } catch (err) {
            stats.deadLettered++;
            await this.deadLetter(msg, `${this.name}: cannot decode message: ${ensureError(err).message}`);
            continue;
          }
          envelopes.push({ msg, value });
        }
      }
      if (envelopes.length > 0) {
        const handleStart = Date.now();
        const done = await this.process(envelopes, stats);
        stats.handleMs = Date.now() - handleStart;
        await Promise.all(done.map((m) => m.ack()));
      }
      await Promise.all(skipped.map((m) => m.ack()));
      for (const m of msgs) if (m.seq > this.lastSeq) this.lastSeq = m.seq;
      this.opts.onTurn?.(stats);
    } finally {
      clearInterval(working);
      this.inTurn = false;
    }
  }

  /** Processes envelopes with retries; returns the messages to ack (dead-lettered ones are already acked). */
  private async process(envelopes: Envelope<T>[], stats: TurnStats): Promise<BusMessage[]> {
    let attempt = 0;
    let delay = this.opts.retryInitialMs;
    for (;;) {
      try {
        await this.opts.handle(envelopes);
        return envelopes.map((e) => e.msg);
      } catch (raw) {
        const err = ensureError(raw);
        if (this.stopping) throw new RuntimeError(RuntimeErrorCode.stopped, `${this.name}: stopped during a retry`, { cause: err });
        stats.retries++;
        const transient = this.opts.isTransient(err);
        if (!transient) attempt++;
        const context = { partition: this.partition, attempt, messages: envelopes.length, error: err.message };
        if (!transient && attempt >= this.opts.maxAttempts) {
          if (envelopes.length > 1) {
            this.opts.logger.warn(`${this.name}: turn keeps failing; processing its messages one by one`, context);
            const acked: BusMessage[] = [];
            for (const envelope of envelopes) acked.push(...(await this.process([envelope], stats)));
            return acked;
          }
          const [only] = envelopes;
          if (only !== undefined) {
            stats.deadLettered++;
            await this.deadLetter(only.msg, `${this.name}: failed ${attempt} times: ${err.message}`);
          }
          return [];
        }
        this.opts.logger.warn(`${this.name}: turn failed, retrying`, { ...context, transient, retryInMs: delay });
        await sleep(delay, this.stopController.signal);
        delay = Math.min(delay * 2, this.opts.retryMaxMs);
      }
    }
  }

  private async deadLetter(msg: BusMessage, reason: string): Promise<void> {
    this.opts.logger.warn(`${this.name}: dead-lettering message`, { partition: this.partition, seq: msg.seq, reason });
    await this.opts.bus.deadLetter(msg, reason);
  }
}
