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
}

interface Slot {
  current: Supervised | undefined;
  done: Promise<void>;
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
  start(make: () => Supervised): void {
    const slot: Slot = { current: undefined, done: Promise.resolve() };
    slot.done = this.keepRunning(slot, make);
    this.slots.push(slot);
  }

  /** Stops every child and waits for them. */
  async stop(): Promise<void> {
    this.stopController.abort();
    await Promise.all(this.slots.map((s) => s.current?.stop() ?? Promise.resolve()));
    await Promise.all(this.slots.map((s) => s.done));
  }

  private async keepRunning(slot: Slot, make: () => Supervised): Promise<void> {
    let delay = this.opts.restartInitialMs;
    while (!this.stopping) {
      const child = make();
      slot.current = child;
      const startedAt = Date.now();
      try {
        await child.run();
        return;
      } catch (raw) {
        if (this.stopping) return;
        const err = ensureError(raw);
        this.crashes++;
        if (Date.now() - startedAt > this.opts.resetAfterMs) delay = this.opts.restartInitialMs;
        this.opts.logger.error(`${child.name} p${child.partition} crashed; restarting`, {
          error: err.message,
          restartInMs: delay,
        });
        await child.stop().catch(() => undefined);
        await sleep(delay, this.stopController.signal);
        delay = Math.min(delay * 2, this.opts.restartMaxMs);
      }
    }
  }
}
