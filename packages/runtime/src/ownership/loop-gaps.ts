/**
 * When this process's event loop did not run: a timer ticks every `tickMs`, and each tick that came late keeps the
 * gap it saw (from the tick before until it ran). An acquisition asks how long the loop stood still while a
 * release was on its way to it: a release delivered late to a process that could not run is a CPU matter, one
 * delivered late to a process that ran is a delivery matter. The garbage collector's pauses are kept too, so a
 * stretch of standing still can be told to be the collector's or the code's.
 *
 * ```ts
 * const gaps = new LoopGaps();
 * gaps.start();
 * gaps.longestWithin(storedAtMs, seenAtMs); // ms the loop stood still in that window, at the longest
 * gaps.gcWithin(storedAtMs, seenAtMs); // ms of it the collector paused the process, in all
 * gaps.stop();
 * ```
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';

export interface LoopGapsOptions {
  /** The tick. Default 20 ms; a gap is kept when a tick comes more than one tick late. */
  tickMs?: number;
  /** How long a gap is kept. Default 30 s. */
  keepMs?: number;
  now?: () => number;
}

export class LoopGaps {
  private readonly tickMs: number;
  private readonly keepMs: number;
  private readonly now: () => number;
  /** Gaps seen, oldest first, as [start, end] in ms of `now`. */
  private readonly gaps: [number, number][] = [];
  /** The collector's pauses, oldest first, as [start, end] in epoch ms. */
  private readonly pauses: [number, number][] = [];
  private timer: NodeJS.Timeout | undefined;
  private observer: PerformanceObserver | undefined;
  private lastTickMs = 0;

  constructor(opts: LoopGapsOptions = {}) {
    this.tickMs = opts.tickMs ?? 20;
    this.keepMs = opts.keepMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.lastTickMs = this.now();
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const start = performance.timeOrigin + entry.startTime;
        this.pauses.push([start, start + entry.duration]);
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.observer?.disconnect();
    this.observer = undefined;
  }

  /** Records the gap since the last tick when it is longer than two ticks. Called by the timer. */
  tick(): void {
    const now = this.now();
    if (now - this.lastTickMs > 2 * this.tickMs) this.gaps.push([this.lastTickMs, now]);
    this.lastTickMs = now;
    while (this.gaps.length > 0 && this.gaps[0]![1] < now - this.keepMs) this.gaps.shift();
    while (this.pauses.length > 0 && this.pauses[0]![1] < Date.now() - this.keepMs) this.pauses.shift();
  }

  /** The time the garbage collector paused this process within [`fromMs`, `toMs`] (epoch ms), in all, in ms. */
  gcWithin(fromMs: number, toMs: number): number {
    let total = 0;
    for (const [start, end] of this.pauses)
      total += Math.max(0, Math.min(end, toMs) - Math.max(start, fromMs));
    return Math.round(total);
  }

  /**
   * The longest time within [`fromMs`, `toMs`] the loop stood still, in ms: 0 when it never stood still for longer
   * than two ticks there (or the window is older than what is kept). A gap still open (the loop blocked now) counts
   * up to now.
   */
  longestWithin(fromMs: number, toMs: number): number {
    let longest = 0;
    const open: [number, number] = [this.lastTickMs, this.now()];
    for (const [start, end] of open[1] - open[0] > 2 * this.tickMs ? [...this.gaps, open] : this.gaps) {
      const overlap = Math.min(end, toMs) - Math.max(start, fromMs);
      if (overlap > longest) longest = overlap;
    }
    return Math.round(longest);
  }
}
