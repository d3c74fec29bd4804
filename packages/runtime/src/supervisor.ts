import { ensureError } from './errors.js';
import { silentLogger, sleep, type Logger } from './logger.js';

/** What a supervisor runs: anything with `run()` (resolves when stopped, rejects on a crash) and `stop()`. */
export interface Supervised {
  readonly name: string;
  readonly partition: number;
  run(): Promise<void>;
  stop(): Promise<void>;
}

export interface SupervisorOptions {
  logger?: Logger;
  /** First pause before restarting a crashed child; doubles up to `restartMaxMs`. Default 500 ms. */
  restartInitialMs?: number;
  /** Longest pause between restarts. Default 30000 ms. */
  restartMaxMs?: number;
  /** A child that ran this long before crashing restarts after `restartInitialMs` again. Default 60000 ms. */
  resetAfterMs?: number;
  /** Errors after which a child is not restarted (its slot ends with the error). Default: none. */
  isFinal?: (err: Error) => boolean;
}

/** One supervised child slot. */
export interface SupervisedHandle {
  /** Stops the child (it finishes its turn in progress) and ends the slot. */
  stop(): Promise<void>;
  /** Resolves when the slot ends: undefined once stopped, the error when the child failed with a final one. */
  readonly done: Promise<Error | undefined>;
}

interface Slot {
  current: Supervised | undefined;
  stopped: boolean;
  done: Promise<Error | undefined>;
}

/**
 * Starts children (partition actors), restarts a crashed one with exponential backoff, and stops them all on
 * shutdown: each stops pulling, finishes and acks its turn in progress, then closes its mailbox.
 */
export class Supervisor {
  private readonly opts: Required<SupervisorOptions>;
  private readonly slots: Slot[] = [];
  private readonly stopController = new AbortController();
  private crashes = 0;

  constructor(options: SupervisorOptions = {}) {
    this.opts = {
      logger: silentLogger,
      restartInitialMs: 500,
      restartMaxMs: 30_000,
      resetAfterMs: 60_000,
      isFinal: () => false,
      ...options,
    };
  }

  /** Number of restarts after crashes so far. */
  get restarts(): number {
    return this.crashes;
  }

  get stopping(): boolean {
    return this.stopController.signal.aborted;
  }

  /** Starts a child made by `make`, and makes a fresh one each time it crashes. */
  start(make: () => Supervised): SupervisedHandle {
    const slot: Slot = { current: undefined, stopped: false, done: Promise.resolve(undefined) };
    const pause = new AbortController();
    slot.done = this.keepRunning(slot, make, pause.signal).finally(() => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    });
    this.slots.push(slot);
    return {
      done: slot.done,
      stop: async () => {
        slot.stopped = true;
        pause.abort();
        await slot.current?.stop();
        await slot.done;
      },
    };
  }

  /** Stops every child and waits for them. */
  async stop(): Promise<void> {
    this.stopController.abort();
    const slots = [...this.slots];
    await Promise.all(slots.map((s) => s.current?.stop() ?? Promise.resolve()));
    await Promise.all(slots.map((s) => s.done));
  }

  private async keepRunning(
    slot: Slot,
    make: () => Supervised,
    pause: AbortSignal,
  ): Promise<Error | undefined> {
    let delay = this.opts.restartInitialMs;
    const ended = (): boolean => this.stopping || slot.stopped;
    while (!ended()) {
      const child = make();
      slot.current = child;
      const startedAt = Date.now();
      try {
        await child.run();
        return undefined;
      } catch (raw) {
        if (ended()) return undefined;
        const err = ensureError(raw);
        if (this.opts.isFinal(err)) {
          this.opts.logger.warn(`${child.name} p${child.partition} stopped for good`, { error: err.message });
          await child.stop().catch(() => undefined);
          return err;
        }
        this.crashes++;
        if (Date.now() - startedAt > this.opts.resetAfterMs) delay = this.opts.restartInitialMs;
        this.opts.logger.error(`${child.name} p${child.partition} crashed; restarting`, {
          error: err.message,
          restartInMs: delay,
        });
        await child.stop().catch(() => undefined);
        await sleep(delay, AbortSignal.any([this.stopController.signal, pause]));
        delay = Math.min(delay * 2, this.opts.restartMaxMs);
      }
    }
    return undefined;
  }
}
