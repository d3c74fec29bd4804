/**
 * The conformance suite every `Bus` implementation must pass: the JetStream bus against a real nats-server and the
 * in-memory bus run exactly these tests.
 *
 * Settings must be short for the suite to be quick: a duplicate window and an ack wait of about a second, and a
 * small `maxAckPending` (the suite publishes more than that to one partition).
 */
import { subjects, type Topic } from '@throughline/contracts';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BusErrorCode,
  Headers,
  isBusError,
  type Bus,
  type BusMessage,
  type BusSettings,
  type Mailbox,
  type MailboxOptions,
} from '../src/index.js';

export interface BusUnderTest {
  bus: Bus;
  settings: BusSettings;
  cleanup(): Promise<void>;
}

const TOPIC: Topic = 'ingested';
const GROUP = 'conformance';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

const encode = (n: number): Uint8Array => new TextEncoder().encode(`m${n}`);
const decode = (msg: BusMessage): string => new TextDecoder().decode(msg.data);
const box = (partition: number, group = GROUP): MailboxOptions => ({ group, topic: TOPIC, partition });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Publishes messages `from…to-1` to one partition, all in flight at once; msgIds are `<partition>-<n>`. */
async function publishRange(
  bus: Bus,
  partition: number,
  from: number,
  to: number,
  headers?: Record<string, string>,
) {
  const acks = [];
  for (let n = from; n < to; n++) {
    acks.push(
      bus.publish(subjects.of(TOPIC, partition), encode(n), {
        msgId: `${partition}-${n}`,
        ...(headers === undefined ? {} : { headers }),
      }),
    );
  }
  return Promise.all(acks);
}

/** Reads until `count` messages arrived (acking them when asked) or `timeoutMs` passed. */
async function collect(
  mailbox: Mailbox,
  count: number,
  opts: { ack: boolean; timeoutMs?: number },
): Promise<BusMessage[]> {
  const out: BusMessage[] = [];
  const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
  while (out.length < count && Date.now() < deadline) {
    const batch = await mailbox.next({
      maxMessages: count - out.length,
      maxWaitMs: Math.max(1, deadline - Date.now()),
    });
    if (opts.ack) await Promise.all(batch.map((msg) => msg.ack()));
    out.push(...batch);
  }
  return out;
}

async function expectBusError(promise: Promise<unknown>, code: BusErrorCode): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBusError(err, code), `expected BusError ${code}, got ${String(err)}`).toBe(true);
}

export function runBusConformance(name: string, makeBus: () => Promise<BusUnderTest>): void {
  describe(`Bus conformance: ${name}`, { timeout: 20_000 }, () => {
    let bus: Bus;
    let settings: Required<
      Pick<BusSettings, 'ackWaitMs' | 'duplicateWindowMs' | 'maxAckPending' | 'maxDeliver'>
    >;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      const made = await makeBus();
      bus = made.bus;
      cleanup = () => made.cleanup();
      settings = {
        ackWaitMs: made.settings.ackWaitMs ?? 30_000,
        duplicateWindowMs: made.settings.duplicateWindowMs ?? 120_000,
        maxAckPending: made.settings.maxAckPending ?? 64,
        maxDeliver: made.settings.maxDeliver ?? 10,
      };
      expect(settings.ackWaitMs).toBeLessThanOrEqual(2_000);
      expect(settings.duplicateWindowMs).toBeLessThanOrEqual(2_000);
      expect(settings.maxAckPending).toBeLessThan(20);
      expect(settings.maxDeliver).toBeLessThanOrEqual(10);
      await bus.ensureTopology();
    });

    afterEach(async () => {
      await cleanup();
    });

    it('delivers one partition in publish order across many messages', async () => {
      const before = Date.now();
      const acks = await publishRange(bus, 0, 0, 300);
      const after = Date.now();
      for (let i = 1; i < acks.length; i++) expect(acks[i]!.seq).toBeGreaterThan(acks[i - 1]!.seq);
      expect(acks.every((ack) => ack.stream === subjects.stream(TOPIC) && !ack.duplicate)).toBe(true);

      const mailbox = await bus.openMailbox(box(0));
      const received = await collect(mailbox, 300, { ack: true, timeoutMs: 15_000 });
      expect(received.map(decode)).toEqual(acks.map((_, n) => `m${n}`));
      expect(received.map((msg) => msg.seq)).toEqual(acks.map((ack) => ack.seq));
      const first = received[0]!;
      expect(first.subject).toBe(subjects.of(TOPIC, 0));
      expect(first.topic).toBe(TOPIC);
      expect(first.partition).toBe(0);
      expect(first.deliveryCount).toBe(1);
      expect(first.publishedAtMs).toBeGreaterThanOrEqual(before - 5);
      expect(first.publishedAtMs).toBeLessThanOrEqual(after + 5);
      expect(await mailbox.next({ maxMessages: 10, maxWaitMs: 100 })).toEqual([]);
      await mailbox.close();
    });

    it('keeps partitions independent', async () => {
      await publishRange(bus, 1, 0, 20);
      await publishRange(bus, 2, 100, 105);
      const one = await bus.openMailbox(box(1));
      const two = await bus.openMailbox(box(2));
      // Partition 1 is stuck at maxAckPending unacknowledged messages; partition 2 still flows.
      const fromOne = await collect(one, settings.maxAckPending, { ack: false });
      const fromTwo = await collect(two, 5, { ack: true });
      expect(fromTwo.map(decode)).toEqual(['m100', 'm101', 'm102', 'm103', 'm104']);
      expect(fromTwo.every((msg) => msg.partition === 2 && msg.subject === subjects.of(TOPIC, 2))).toBe(true);
      expect(fromOne).toHaveLength(settings.maxAckPending);
      expect(fromOne.every((msg) => msg.partition === 1)).toBe(true);
      expect(await one.next({ maxMessages: 1, maxWaitMs: 100 })).toEqual([]);
      await one.close();
      await two.close();
    });

    it('bounds unacknowledged messages by maxAckPending', async () => {
      await publishRange(bus, 3, 0, 20);
      const mailbox = await bus.openMailbox(box(3));
      const first = await collect(mailbox, 20, { ack: false, timeoutMs: settings.ackWaitMs / 2 });
      expect(first.map(decode)).toEqual(Array.from({ length: settings.maxAckPending }, (_, n) => `m${n}`));
      await Promise.all(first.map((msg) => msg.ack()));
      const rest = await collect(mailbox, 20 - settings.maxAckPending, { ack: true });
      expect(rest.map(decode)).toEqual(
        Array.from({ length: 20 - settings.maxAckPending }, (_, n) => `m${n + settings.maxAckPending}`),
      );
      await mailbox.close();
    });

    it('round-trips headers and copies published bytes', async () => {
      const data = new Uint8Array([1, 2, 3]);
      await bus.publish(subjects.of(TOPIC, 4), data, {
        msgId: 'with-headers',
        headers: { traceparent: TRACEPARENT, tracestate: 'tl=1' },
      });
      data[0] = 9;
      const mailbox = await bus.openMailbox(box(4));
      const [msg] = await collect(mailbox, 1, { ack: true });
      expect(msg!.headers.get(Headers.traceparent)).toBe(TRACEPARENT);
      expect(msg!.headers.get(Headers.tracestate)).toBe('tl=1');
      expect(msg!.headers.get(Headers.msgId)).toBe('with-headers');
      expect([...msg!.data]).toEqual([1, 2, 3]);
      await mailbox.close();
    });

    it('drops a duplicate msgId inside the duplicate window and accepts it after', async () => {
      const subject = subjects.of(TOPIC, 5);
      const sent = Date.now();
      const original = await bus.publish(subject, encode(1), { msgId: 'dup' });
      const duplicate = await bus.publish(subject, encode(2), { msgId: 'dup' });
      expect(original.duplicate).toBe(false);
      expect(duplicate).toEqual({ stream: original.stream, seq: original.seq, duplicate: true });
      // The id is dropped for as long as the window lasts, then accepted (nats-server forgets ids on a timer, so
      // the time it takes past the window is not fixed): publish again until it is accepted.
      let later = duplicate;
      while (later.duplicate) {
        expect(Date.now() - sent, 'still a duplicate long after the window').toBeLessThan(
          settings.duplicateWindowMs + 10_000,
        );
        await sleep(50);
        later = await bus.publish(subject, encode(3), { msgId: 'dup' });
        if (later.duplicate) expect(later.seq).toBe(original.seq);
      }
      expect(Date.now() - sent).toBeGreaterThanOrEqual(settings.duplicateWindowMs);
      expect(later.seq).toBeGreaterThan(original.seq);
      const mailbox = await bus.openMailbox(box(5));
      const received = await collect(mailbox, 3, { ack: true, timeoutMs: 1_000 });
      expect(received.map(decode)).toEqual(['m1', 'm3']);
      await mailbox.close();
    });

    it('redelivers an unacknowledged message after ackWait with deliveryCount 2', async () => {
      await publishRange(bus, 6, 0, 1);
      const mailbox = await bus.openMailbox(box(6));
      const [first] = await collect(mailbox, 1, { ack: false });
      expect(first!.deliveryCount).toBe(1);
      const start = Date.now();
      const [again] = await collect(mailbox, 1, { ack: false, timeoutMs: settings.ackWaitMs * 4 });
      expect(Date.now() - start).toBeGreaterThanOrEqual(settings.ackWaitMs - 150);
      expect(again!.seq).toBe(first!.seq);
      expect(again!.deliveryCount).toBe(2);
      await again!.ack();
      expect(await bus.backlog(box(6))).toEqual({ pending: 0, ackPending: 0 });
      await mailbox.close();
    });

    it('redelivers a nak-ed message at once, up to maxDeliver deliveries', async () => {
      await publishRange(bus, 7, 0, 1);
      const mailbox = await bus.openMailbox(box(7));
      const deliveries: number[] = [];
      for (;;) {
        const [msg] = await collect(mailbox, 1, { ack: false, timeoutMs: settings.ackWaitMs / 2 });
        if (msg === undefined) break;
        expect(decode(msg)).toBe('m0');
        deliveries.push(msg.deliveryCount);
        msg.nak();
      }
      expect(deliveries).toEqual(Array.from({ length: settings.maxDeliver }, (_, i) => i + 1));
      // Past maxDeliver the message is neither pending nor awaiting an ack (it stays in the stream).
      expect(await bus.backlog(box(7))).toEqual({ pending: 0, ackPending: 0 });
      await mailbox.close();
    });

    it('restarts a reopened mailbox at the first unacknowledged message, in order', async () => {
      await publishRange(bus, 8, 0, 5);
      const owner = await bus.openMailbox(box(8));
      const firstRun = await collect(owner, 5, { ack: false });
      expect(firstRun.map(decode)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      await firstRun[0]!.ack();
      await firstRun[1]!.ack();
      await owner.close();
      await publishRange(bus, 8, 5, 8);

      const successor = await bus.openMailbox(box(8));
      const secondRun = await collect(successor, 6, { ack: true });
      // Delivered afresh by the reopened mailbox (its count starts over), not redelivered after an ack wait.
      expect(secondRun.map((m) => m.deliveryCount)).toEqual([1, 1, 1, 1, 1, 1]);
      expect(secondRun.map(decode)).toEqual(['m2', 'm3', 'm4', 'm5', 'm6', 'm7']);
      expect(await successor.next({ maxMessages: 10, maxWaitMs: 200 })).toEqual([]);
      await successor.close();
    });

    it('dead-letters body, headers and reason, and the partition keeps flowing', async () => {
      await publishRange(bus, 9, 0, 3, { traceparent: TRACEPARENT });
      const mailbox = await bus.openMailbox(box(9));
      const [a, b, c] = await collect(mailbox, 3, { ack: false });
      await a!.ack();
      await bus.deadLetter(b!, 'amount out of range');
      await bus.deadLetter(c!, 'unknown currency');
      await publishRange(bus, 9, 3, 4);
      const [d] = await collect(mailbox, 1, { ack: true });
      expect(decode(d!)).toBe('m3');

      const letters = await bus.readDeadLetters({ topic: TOPIC });
      expect(letters.map((letter) => letter.reason)).toEqual(['amount out of range', 'unknown currency']);
      const letter = letters[0]!;
      expect(letter.subject).toBe(subjects.deadLetter(TOPIC, 9));
      expect(letter.originalSubject).toBe(subjects.of(TOPIC, 9));
      expect(letter.originalSeq).toBe(b!.seq);
      expect(letter.deliveries).toBe(1);
      expect(new TextDecoder().decode(letter.data)).toBe('m1');
      expect(letter.headers.get(Headers.traceparent)).toBe(TRACEPARENT);
      expect(letter.headers.get(Headers.deadLetterReason)).toBe('amount out of range');
      expect(letter.headers.get(Headers.deadLetterMsgId)).toBe('9-1');
      // Reading does not consume; limit and topic filter apply.
      expect((await bus.readDeadLetters({ topic: TOPIC, limit: 1 })).map((l) => l.reason)).toEqual([
        'amount out of range',
      ]);
      expect(await bus.readDeadLetters({ topic: 'applied' })).toEqual([]);
      expect((await bus.readDeadLetters()).length).toBe(2);
      expect(await bus.backlog(box(9))).toEqual({ pending: 0, ackPending: 0 });
      await mailbox.close();
    });

    it('dead-letters one item of a message alone, once, without acknowledging the message', async () => {
      await publishRange(bus, 17, 0, 1);
      const mailbox = await bus.openMailbox(box(17));
      const [m] = await collect(mailbox, 1, { ack: false });
      const part = { index: 2, data: new TextEncoder().encode('item-2') };
      await bus.deadLetter(m!, 'events[2].amount_minor: must be positive', part);
      // A retried turn dead-letters the same item again: kept once.
      await bus.deadLetter(m!, 'events[2].amount_minor: must be positive', part);
      expect(await bus.backlog(box(17))).toEqual({ pending: 0, ackPending: 1 });
      await m!.ack();
      expect(await bus.backlog(box(17))).toEqual({ pending: 0, ackPending: 0 });
      const letters = (await bus.readDeadLetters({ topic: TOPIC })).filter(
        (l) => l.originalSubject === subjects.of(TOPIC, 17),
      );
      expect(letters).toHaveLength(1);
      expect(letters[0]!.part).toBe(2);
      expect(letters[0]!.originalSeq).toBe(m!.seq);
      expect(new TextDecoder().decode(letters[0]!.data)).toBe('item-2');
      expect(letters[0]!.seq).toBeGreaterThan(0);
      expect(Math.abs(letters[0]!.storedAtMs - Date.now())).toBeLessThan(60_000);
      // Removed once redriven or purged; removing it again finds nothing.
      expect(await bus.removeDeadLetter(letters[0]!.seq)).toBe(true);
      expect(await bus.removeDeadLetter(letters[0]!.seq)).toBe(false);
      expect(
        (await bus.readDeadLetters({ topic: TOPIC })).filter(
          (l) => l.originalSubject === subjects.of(TOPIC, 17),
        ),
      ).toEqual([]);
      await mailbox.close();
    });

    it('reports the backlog of a partition, with and without a consumer, and of the whole topic', async () => {
      expect(await bus.backlog(box(10))).toEqual({ pending: 0, ackPending: 0 });
      expect(await bus.topicBacklog(TOPIC)).toBe(0);
      await publishRange(bus, 10, 0, 6);
      await publishRange(bus, 15, 0, 2);
      expect(await bus.backlog(box(10))).toEqual({ pending: 6, ackPending: 0 });
      expect(await bus.topicBacklog(TOPIC)).toBe(8);
      expect(await bus.topicBacklog('applied')).toBe(0);
      const mailbox = await bus.openMailbox(box(10));
      const opened = await bus.backlog(box(10));
      expect(opened.pending + opened.ackPending).toBe(6);
      const received = await collect(mailbox, 6, { ack: false });
      await received[0]!.ack();
      await received[1]!.ack();
      expect(await bus.backlog(box(10))).toEqual({ pending: 0, ackPending: 4 });
      expect(await bus.topicBacklog(TOPIC)).toBe(6);
      await Promise.all(received.slice(2).map((msg) => msg.ack()));
      expect(await bus.backlog(box(10))).toEqual({ pending: 0, ackPending: 0 });
      expect(await bus.topicBacklog(TOPIC)).toBe(2);
      await mailbox.close();
    });

    it('ensureTopology is idempotent', async () => {
      await bus.ensureTopology();
      await bus.ensureTopology();
      const ack = await bus.publish(subjects.of('applied', 0), encode(0), { msgId: 'after-topology' });
      expect(ack).toMatchObject({ stream: subjects.stream('applied'), duplicate: false });
    });

    it('next() returns [] on time-out and once closed', async () => {
      const mailbox = await bus.openMailbox(box(11));
      const start = Date.now();
      expect(await mailbox.next({ maxMessages: 10, maxWaitMs: 200 })).toEqual([]);
      expect(Date.now() - start).toBeGreaterThanOrEqual(150);
      const waiting = mailbox.next({ maxMessages: 10, maxWaitMs: 10_000 });
      const closeStart = Date.now();
      await mailbox.close();
      expect(await waiting).toEqual([]);
      // Woken by the close, not by its 10 s wait (loose, for two busy cores).
      expect(Date.now() - closeStart).toBeLessThan(5_000);
      await publishRange(bus, 11, 0, 1);
      expect(await mailbox.next({ maxMessages: 10, maxWaitMs: 200 })).toEqual([]);
      await mailbox.close();
    });

    it('lets a second mailbox on the same consumer take over from the first', async () => {
      await publishRange(bus, 13, 0, 3);
      const first = await bus.openMailbox(box(13));
      const [m0] = await collect(first, 1, { ack: false });
      expect(decode(m0!)).toBe('m0');
      const second = await bus.openMailbox(box(13));
      expect(await first.next({ maxMessages: 10, maxWaitMs: 100 })).toEqual([]);
      const received = await collect(second, 3, { ack: true });
      expect(received.map(decode)).toEqual(['m0', 'm1', 'm2']);
      await second.close();
    });

    it("hands a partition to a mailbox of a newer lease epoch: the old owner's acks no longer count", async () => {
      await publishRange(bus, 14, 0, 6);
      const old = await bus.openMailbox({ ...box(14), epoch: 5 });
      const held = await collect(old, 4, { ack: false });
      expect(held.map(decode)).toEqual(['m0', 'm1', 'm2', 'm3']);
      const successor = await bus.openMailbox({ ...box(14), epoch: 7 });
      // The old owner did not know it was replaced: its acks (failing or not) must not remove anything.
      await Promise.allSettled(held.map((msg) => msg.ack()));
      const received = await collect(successor, 6, { ack: true });
      expect(received.map(decode)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
      expect(await bus.backlog(box(14))).toEqual({ pending: 0, ackPending: 0 });
      // A mailbox of an older epoch cannot take the partition back.
      await expectBusError(bus.openMailbox({ ...box(14), epoch: 6 }), BusErrorCode.fenced);
      await publishRange(bus, 14, 6, 7);
      expect((await collect(successor, 1, { ack: true })).map(decode)).toEqual(['m6']);
      await successor.close();
    });

    it('rejects a subject no stream stores, and a second group on a partition', async () => {
      await expectBusError(bus.publish('elsewhere.1', encode(0), { msgId: 'x' }), BusErrorCode.noStream);
      const mailbox = await bus.openMailbox(box(12));
      await expectBusError(bus.openMailbox(box(12, 'other-group')), BusErrorCode.consumerConflict);
      await mailbox.close();
    });
  });
}
