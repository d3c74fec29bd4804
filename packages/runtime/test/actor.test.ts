import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryBus, type Bus, type BusMessage } from '@throughline/bus';
import { subjects } from '@throughline/contracts';
import {
  PartitionActor,
  RuntimeError,
  Supervisor,
  sleep,
  type Envelope,
  type PartitionActorOptions,
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

  it('dead-letters an undecodable message at once and keeps the partition flowing', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    await publishAll(bus, 1, ['a', 'garbage-1', 'b']);
    const seen: string[] = [];
    const actor = actorOn(bus, 1, {
      handle: (turn) => Promise.resolve(void seen.push(...turn.map((e) => e.value))),
    });
    void actor.run();
    await until(() => seen.length === 2);
    await actor.stop();
    expect(seen).toEqual(['a', 'b']);
    const dead = await bus.readDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dec.decode(dead[0]!.data)).toBe('garbage-1');
    expect(dead[0]!.reason).toMatch(/test: cannot decode message: not decodable/);
  });

  it('retries a failing turn, then isolates and dead-letters the one message that always fails', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    await publishAll(bus, 2, ['a', 'poison', 'b', 'c']);
    const committed: string[] = [];
    const actor = actorOn(bus, 2, {
      maxAttempts: 3,
      handle: (turn) => {
        if (turn.some((e) => e.value === 'poison'))
          return Promise.reject(new RuntimeError('POISON', 'cannot apply'));
        committed.push(...turn.map((e) => e.value));
        return Promise.resolve();
      },
    });
    void actor.run();
    await until(() => committed.length === 3);
    await actor.stop();
    expect(committed).toEqual(['a', 'b', 'c']);
    const dead = await bus.readDeadLetters();
    expect(dead.map((d) => dec.decode(d.data))).toEqual(['poison']);
    expect(dead[0]!.reason).toMatch(/failed 3 times: cannot apply/);
  });

  it('retries a transient failure without limit and without dead-lettering', async () => {
    bus = createMemoryBus();
    await bus.ensureTopology();
    await publishAll(bus, 3, ['a']);
    let calls = 0;
    const actor = actorOn(bus, 3, {
      maxAttempts: 2,
      handle: () => {
        calls++;
        if (calls < 10)
          return Promise.reject(
            Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
          );
        return Promise.resolve();
      },
    });
    void actor.run();
    await until(() => calls === 10);
    await until(
      async () => (await bus.backlog({ group: 'test', topic: 'ingested', partition: 3 })).ackPending === 0,
    );
    await actor.stop();
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
    const seen: string[] = [];
    const next = actorOn(bus, 4, {
      handle: (turn) => Promise.resolve(void seen.push(...turn.map((e) => e.value))),
    });
    void next.run();
    await until(() => seen.length === 3);
    await next.stop();
    expect(seen).toEqual(['a', 'b', 'c']);
  });
});

describe('Supervisor', () => {
  it('restarts a crashed child with backoff and stops every child', async () => {
    let starts = 0;
    let stops = 0;
    const supervisor = new Supervisor({ restartInitialMs: 5, restartMaxMs: 10 });
    supervisor.start(() => {
      const n = ++starts;
      let release: () => void = () => undefined;
      return {
        name: 'child',
        partition: 0,
        run: () =>
          n < 3 ? Promise.reject(new Error(`crash ${n}`)) : new Promise<void>((r) => (release = r)),
        stop: () => {
          stops++;
          release();
          return Promise.resolve();
        },
      };
    });
    await until(() => starts === 3);
    expect(supervisor.restarts).toBe(2);
    await supervisor.stop();
    expect(stops).toBeGreaterThanOrEqual(1);
  });
});
