/**
 * The naive design's scheduling: events handled one by one, a fixed number in flight per stage process, events
 * of one key strictly in order (the contracts require per-key order), concurrency across keys.
 */

/** A counting semaphore: at most `limit` holders at once, shared by every partition of a stage process. */
export class InFlightLimit {
  private held = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.held >= this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    else this.held++;
    try {
      return await work();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.held--;
    }
  }
}

/**
 * Runs `handle` on every item, each under `limit`, items of one key one after another in their order, and
 * resolves when all are done (rejecting with the first failure once the rest have settled).
 */
export async function runKeyed<T>(
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: InFlightLimit,
  handle: (item: T) => Promise<void>,
): Promise<void> {
  const queues = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const queue = queues.get(key);
    if (queue) queue.push(item);
    else queues.set(key, [item]);
  }
  const keys = [...queues.values()];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const queue = keys[next++]!;
      for (const item of queue) await limit.run(() => handle(item));
    }
  };
  const workers = Math.min(limit.limit, keys.length);
  const outcomes = await Promise.allSettled(Array.from({ length: workers }, worker));
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}
