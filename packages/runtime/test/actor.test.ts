import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryBus, type Bus, type BusMessage } from '@throughline/bus';
import { subjects } from '@throughline/contracts';
import {
  PartitionActor,
  Supervisor,
  sleep,
  type Envelope,
  type FailureClass,
  type PartitionActorOptions,
  type Stall,
  type TurnStats,
} from '../src/index.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

async function publishAll(bus: Bus, partition: number, bodies: string[]): Promise<void> {
  for (const [i, body] of bodies.entries()) {
    await bus.publish(subjects.of('ingested', partition), enc.encode(body), {
      msgId: `${partition}-${i}-${body}`,
    });
  }
}

function actorOn(
  bus: Bus,
  partition: number,
  overrides: Partial<PartitionActorOptions<string>>,
): PartitionActor<string> {
  return new PartitionActor<string>({
    name: 'test',
    partition,
    bus,
    openMailbox: () => bus.openMailbox({ group: 'test', topic: 'ingested', partition }),
    decode: (msg: BusMessage) => {
      const text = dec.decode(msg.data);
      if (text.startsWith('garbage')) throw new Error('not decodable');
      return text;
    },
    handle: () => Promise.resolve(),
    pollWaitMs: 20,
    retryInitialMs: 1,
    retryMaxMs: 5,
    ...overrides,
  });
}

/** What an actor on `partition` processes until it has `n` values; the actor is stopped then. */
async function processed(bus: Bus, partition: number, n: number): Promise<string[]> {
  const seen: string[] = [];
  const actor = actorOn(bus, partition, {
    handle: (turn) => Promise.resolve(void seen.push(...turn.map((e) => e.value))),
  });
  void actor.run();
  await until(() => seen.length === n);
  await actor.stop();
  return seen;
}

async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

describe('PartitionActor', () => {
  let bus: Bus;
  afterEach(async () => {
    await bus?.close();
  });

  it('processes a partition in stream order, one turn at a time, and acks after the handler', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    const bodies = Array.from({ length: 200 }, (_, i) => `m${i}`);
    await publishAll(bus, 0, bodies);
    const seen: string[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const actor = actorOn(bus, 0, {
      maxTurnMessages: 16,
      handle: async (turn: Envelope<string>[]) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await sleep(1);
        seen.push(...turn.map((e) => e.value));
        concurrent--;
      },
    });
    const running = actor.run();
    await until(() => seen.length === bodies.length);
    await until(
      async () => (await bus.backlog({ group: 'test', topic: 'ingested', partition: 0 })).ackPending === 0,
    );
    await actor.stop();
    await running;
    expect(seen).toEqual(bodies);
    expect(maxConcurrent).toBe(1);
  });

  it('tells the observer the turn started on the wall clock its queue wait is measured on, however far the performance clock drifted', async () => {
    // The performance clock (timeOrigin + now()) and the wall clock drift apart in a long-running process; here
    // the wall clock runs a minute ahead of it.
    const wall = Date.now.bind(Date);
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => wall() + 60_000);
    try {
      bus = createMemoryBus();
      await bus.ensureTopology();
      await publishAll(bus, 2, ['a']);
      const publishedAt = Date.now();
      const turns: { startTimeMs: number; stats?: TurnStats }[] = [];
      const actor = actorOn(bus, 2, {
        observer: {
          startTurn: ({ startTimeMs }) => {
            const turn: { startTimeMs: number; stats?: TurnStats } = { startTimeMs };
            turns.push(turn);
            return {
              outgoingHeaders: undefined,
              traceId: undefined,
              dependency: (_dependency, work) => work(),
              end: (stats) => void (turn.stats = stats),
            };
          },
        },
      });
      void actor.run();
      await until(() => turns[0]?.stats !== undefined);
      await actor.stop();
      const { startTimeMs, stats } = turns[0]!;
      expect(startTimeMs).toBe(stats!.startedAtMs);
      // The oldest message was stored when the turn's start minus its queue wait says, on the same clock.
      expect(Math.abs(startTimeMs - stats!.queueWaitMs - publishedAt)).toBeLessThan(50);
    } finally {
      spy.mockRestore();
    }
  });

  it('dead-letters an undecodable message at once and keeps the partition flowing', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    await publishAll(bus, 1, ['a', 'garbage-1', 'b']);
    expect(await processed(bus, 1, 2)).toEqual(['a', 'b']);
    const dead = await bus.readDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dec.decode(dead[0]!.data)).toBe('garbage-1');
    expect(dead[0]!.reason).toMatch(/test: cannot decode message: not decodable/);
  });

  it('bisects a turn that fails on poison, dead-letters only the poison messages, and processes the rest in order', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    const bodies = Array.from({ length: 40 }, (_, i) => (i === 7 || i === 29 ? `poison-${i}` : `m${i}`));
    await publishAll(bus, 2, bodies);
    const committed: string[] = [];
    let calls = 0;
    const actor = actorOn(bus, 2, {
      maxTurnMessages: 64,
      handle: (turn) => {
        calls++;
        const bad = turn.find((e) => e.value.startsWith('poison'));
        if (bad !== undefined)
          return Promise.reject(
            Object.assign(new Error(`event ${bad.value}: amount out of range`), { poison: true }),
          );
        committed.push(...turn.map((e) => e.value));
        return Promise.resolve();
      },
    });
    void actor.run();
    await until(() => committed.length === 38);
    await until(
      async () => (await bus.backlog({ group: 'test', topic: 'ingested', partition: 2 })).ackPending === 0,
    );
    await actor.stop();
    expect(committed).toEqual(bodies.filter((b) => !b.startsWith('poison')));
    const dead = await bus.readDeadLetters();
    expect(dead.map((d) => dec.decode(d.data))).toEqual(['poison-7', 'poison-29']);
    expect(dead[0]!.reason).toBe('test: poison: event poison-7: amount out of range');
    // Bisection, not one attempt per message: 40 messages, 2 poison, 2 attempts of each lone poison message.
    expect(calls).toBeLessThan(30);
  });

  it('splits a lone message that fails on poison into its items: only the poison items are dead-lettered, each alone', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    // Messages are batches of items separated by commas; the second and the fourth hold poison items.
    const bodies = ['a,b', 'c,poison-d,e,f,g', 'h', 'poison-i,j,poison-k', 'l'];
    await publishAll(bus, 4, bodies);
    const committed: string[] = [];
    const actor = actorOn(bus, 4, {
      split: ({ value }) =>
        value.split(',').map((item, index) => ({ value: item, part: { index, data: enc.encode(item) } })),
      handle: (turn) => {
        const items = turn.flatMap((e) => e.value.split(','));
        const bad = items.find((item) => item.startsWith('poison'));
        if (bad !== undefined)
          return Promise.reject(Object.assign(new Error(`event ${bad}: refused`), { poison: true }));
        committed.push(...items);
        return Promise.resolve();
      },
    });
    void actor.run();
    await until(() => committed.length === 9);
    await until(
      async () => (await bus.backlog({ group: 'test', topic: 'ingested', partition: 4 })).ackPending === 0,
    );
    await actor.stop();
    // Every good item once, in stream order, the good items of the poisoned messages included.
    expect(committed).toEqual(['a', 'b', 'c', 'e', 'f', 'g', 'h', 'j', 'l']);
    const dead = await bus.readDeadLetters();
    expect(dead.map((d) => [dec.decode(d.data), d.part, d.originalSeq])).toEqual([
      ['poison-d', 1, 2],
      ['poison-i', 0, 4],
      ['poison-k', 2, 4],
    ]);
    expect(dead[0]!.reason).toBe('test: poison: event poison-d: refused');
    // Nothing is left to redeliver: the split messages were acked.
    expect(await bus.backlog({ group: 'test', topic: 'ingested', partition: 4 })).toMatchObject({
      pending: 0,
    });
  });

  it('waits out a dependency without limit, reports the stall, and never dead-letters', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    await publishAll(bus, 3, ['a', 'b']);
    let calls = 0;
    const stalls: Stall[] = [];
    const ends: number[] = [];
    const failures: FailureClass[] = [];
    const committed: string[] = [];
    const oom = Object.assign(new Error("OOM command not allowed when used memory > 'maxmemory'."), {
      name: 'ReplyError',
    });
    const actor = actorOn(bus, 3, {
      handle: (turn) => {
        calls++;
        if (calls < 40) return Promise.reject(new Error('commit failed', { cause: oom }));
        committed.push(...turn.map((e) => e.value));
        return Promise.resolve();
      },
      onFailure: (f) => failures.push(f),
      onStall: (s) => stalls.push(s),
      onStallEnd: (_s, ms) => ends.push(ms),
    });
    void actor.run();
    await until(() => committed.length === 2);
    await until(
      async () => (await bus.backlog({ group: 'test', topic: 'ingested', partition: 3 })).ackPending === 0,
    );
    await actor.stop();
    expect(committed).toEqual(['a', 'b']);
    expect(await bus.readDeadLetters()).toEqual([]);
    expect(failures).toHaveLength(39);
    expect(new Set(failures.map((f) => `${f.kind}/${f.dependency}/${f.reason}`))).toEqual(
      new Set(['dependency/redis/OOM']),
    );
    expect(stalls).toHaveLength(39);
    expect(stalls.at(-1)).toMatchObject({ partition: 3, dependency: 'redis', reason: 'OOM', attempts: 39 });
    expect(ends).toHaveLength(1);
  });

  it('treats an error nobody recognises as a dependency failure: retried, never dead-lettered', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    await publishAll(bus, 5, ['a']);
    let calls = 0;
    const actor = actorOn(bus, 5, {
      handle: () => (++calls < 12 ? Promise.reject(new TypeError('x is undefined')) : Promise.resolve()),
    });
    void actor.run();
    await until(() => calls === 12);
    await until(
      async () => (await bus.backlog({ group: 'test', topic: 'ingested', partition: 5 })).ackPending === 0,
    );
    await actor.stop();
    expect(await bus.readDeadLetters()).toEqual([]);
  });

  it('processes messages redelivered many times (turns that never finished) one by one, without dead-lettering them', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    await publishAll(bus, 6, ['a', 'b', 'c']);
    // A live consumer redelivers a message whose turn outlived its ack wait again and again: the memory bus
    // resets delivery counts when a mailbox reopens (as JetStream's recreated consumer does), so the count is
    // raised here.
    const redelivered = (msg: BusMessage): BusMessage => ({
      subject: msg.subject,
      topic: msg.topic,
      partition: msg.partition,
      data: msg.data,
      headers: msg.headers,
      seq: msg.seq,
      deliveryCount: 9,
      publishedAtMs: msg.publishedAtMs,
      ack: () => msg.ack(),
      nak: (delayMs?: number) => msg.nak(delayMs),
      working: () => msg.working(),
    });
    const turns: string[][] = [];
    const actor = actorOn(bus, 6, {
      maxDeliveries: 5,
      openMailbox: async () => {
        const mailbox = await bus.openMailbox({ group: 'test', topic: 'ingested', partition: 6 });
        return {
          next: async (opts) => (await mailbox.next(opts)).map(redelivered),
          close: () => mailbox.close(),
          get closed() {
            return mailbox.closed;
          },
        };
      },
      handle: (turn) => Promise.resolve(void turns.push(turn.map((e) => e.value))),
    });
    void actor.run();
    await until(() => turns.flat().length === 3);
    await until(
      async () => (await bus.backlog({ group: 'test', topic: 'ingested', partition: 6 })).ackPending === 0,
    );
    await actor.stop();
    expect(turns).toEqual([['a'], ['b'], ['c']]);
    expect(await bus.readDeadLetters()).toEqual([]);
  });

  it('leaves the messages of an interrupted turn for the next owner, which sees them first and in order', async () => {
    bus = createMemoryBus({ ackWaitMs: 60_000 });
    await bus.ensureTopology();
    await publishAll(bus, 4, ['a', 'b', 'c']);
    let started = false;
    const stuck = actorOn(bus, 4, {
      maxTurnMessages: 1,
      handle: () => {
        started = true;
        return Promise.reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' }));
      },
    });
    void stuck.run();
    await until(() => started);
    await stuck.stop();
    expect(await processed(bus, 4, 3)).toEqual(['a', 'b', 'c']);
  });
});

describe('Supervisor', () => {
  it('restarts a crashed child with doubling backoff and stops every child', async () => {
    const startedAt: number[] = [];
    const stopped: boolean[] = [];
    const supervisor = new Supervisor({ restartInitialMs: 40, restartMaxMs: 1000 });
    supervisor.start(() => {
      const n = startedAt.push(performance.now()) - 1;
      stopped.push(false);
      let release: () => void = () => undefined;
      return {
        name: 'child',
        partition: 0,
        run: () =>
          n < 2 ? Promise.reject(new Error(`crash ${n}`)) : new Promise<void>((r) => (release = r)),
        stop: () => {
          stopped[n] = true;
          release();
          return Promise.resolve();
        },
      };
    });
    await until(() => startedAt.length === 3);
    expect(supervisor.restarts).toBe(2);
    // Each crashed child was stopped before its successor started; the pauses were 40 ms, then 80 ms (timers
    // never fire early by more than a millisecond's rounding; a busy machine only makes them longer).
    expect(stopped).toEqual([true, true, false]);
    expect(startedAt[1]! - startedAt[0]!).toBeGreaterThanOrEqual(39);
    expect(startedAt[2]! - startedAt[1]!).toBeGreaterThanOrEqual(79);
    await supervisor.stop();
    expect(stopped).toEqual([true, true, true]);
    expect(startedAt).toHaveLength(3);
  });
});
