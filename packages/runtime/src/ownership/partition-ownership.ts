/**
 * Which partitions of a stage this instance processes, decided live with the other instances through leases in a
 * lease bucket (NATS KV), so that a stage can be scaled up or down while it runs without two instances ever
 * applying the same partition.
 *
 * Rules:
 * - Every instance registers under `<stage>.member.<id>` and renews it every `renewIntervalMs`; members not heard
 *   from for the bucket's time to live are dead. The target partitions of each live member follow from the member
 *   list alone (`assignPartitions`), or from a static list.
 * - An instance processes a partition only while it holds its lease `<stage>.lease.<p>`. It acquires a free lease
 *   by compare-and-set (`create`, or `update` of a released one); the revision of that write is the lease's
 *   **epoch**, larger than any epoch of the partition before. It renews the lease by compare-and-set on its last
 *   revision; a failed renewal means another instance took it (the lease expired meanwhile): processing stops at
 *   once, and what it still attempts is refused downstream by the epoch (fencing, in the stores and the stages).
 * - Hand-over is cooperative: the owner of a partition that is no longer in its target stops processing (the
 *   turn in flight finishes and acks), then marks the lease released; the next owner, watching the bucket, takes
 *   it at once. An instance that stops deregisters first, so its partitions are already in the others' targets
 *   when their leases are released. A crashed owner's lease expires after the time to live.
 * - An instance that could not renew a lease for half its time to live (the lease bucket unreachable) stops
 *   processing it, so it has stopped before the lease expires and another instance can take it.
 * - What an instance knows of the others comes from watching the bucket, and a watch can go quiet without an error
 *   (its consumer lost with a NATS node, and re-created late or not at all): an instance would then keep every
 *   partition it took while the others seemed gone, and never hand them back. Its own writes (the registration and
 *   the lease renewals, every heartbeat) must come back through the watch; when one acknowledged has not for half
 *   the time to live, the watch is opened again (it starts from every key's last value). One watch covers the
 *   members and the leases, so that they arrive in the order they were stored.
 *
 * Error behaviour: errors of the lease bucket are logged and retried at the next heartbeat; they never throw out
 * of the ownership. `start` and `stop` of the options are called once per acquisition; `stop` may be called while
 * an earlier `stop` of the same lease is still running (a release overtaken by a loss), and must be idempotent.
 */
import type { LeaseBucket, LeaseEntry, LeaseWatch } from '@throughline/bus';
import { ensureError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { assignPartitions } from './assignment.js';
import { LoopGaps } from './loop-gaps.js';
import {
  decodeLease,
  decodeMember,
  encodeRecord,
  leaseKeys,
  memberOfKey,
  partitionOfLeaseKey,
  type LeaseRecord,
  type MemberRecord,
} from './lease-records.js';

/** A partition held under a lease, and the lease's epoch (every effect of processing it carries the epoch). */
export interface Lease {
  readonly partition: number;
  readonly epoch: number;
}

/** Why processing of a partition stops: it moves to another instance, the lease was lost, or the process ends. */
export type RevokeReason = 'handover' | 'lost' | 'shutdown';

/** Told of every change of ownership (metrics, spans). */
export interface OwnershipObserver {
  /** `pauseMs`: how long the partition went unprocessed before this acquisition, when its previous owner released it. */
  acquired?(lease: Lease, info: { previousOwner: string; pauseMs: number | null }): void;
  /** `drainMs`: how long stopping took (the turn in flight finishing). */
  released?(lease: Lease, info: { reason: RevokeReason; drainMs: number }): void;
  lost?(lease: Lease, info: { why: string }): void;
}

export interface PartitionOwnershipOptions {
  bucket: LeaseBucket;
  /** The stage (`enrich`, `state`, `writer`); its instances share the partitions. */
  stage: string;
  /** This instance's id, unique among the live instances of the stage (`[A-Za-z0-9_-]`). */
  memberId: string;
  partitionCount: number;
  /** Ask for exactly these partitions (still under leases) instead of a share of the live members. Default: none. */
  staticPartitions?: readonly number[];
  /** Heartbeat: registration and lease renewals. Default a quarter of the bucket's time to live. */
  renewIntervalMs?: number;
  /** Starts processing a partition whose lease was just acquired. */
  start(lease: Lease): void;
  /** Stops processing a partition; resolves once the turn in flight is finished and acknowledged. */
  stop(lease: Lease, reason: RevokeReason): Promise<void>;
  observer?: OwnershipObserver;
  logger?: Logger;
  /** Default `Date.now`. */
  now?: () => number;
}

interface Held {
  readonly lease: Lease;
  record: LeaseRecord;
  revision: number;
  phase: 'active' | 'releasing' | 'gone';
  /** Local time at which the last successful write of the lease was sent. */
  renewedAtMs: number;
  /** Writes of this lease, one after the other (a renewal must not race a release). */
  writes: Promise<void>;
}

interface Observed<T> {
  record: T | undefined;
  revision: number;
  /** Local time of the last write seen: a live holder writes every heartbeat. */
  seenAtMs: number;
  /** When the bucket stored that write, when the watch said so. */
  storedAtMs?: number;
}

const MEMBER_ID = /^[A-Za-z0-9_-]+$/;

/** This instance's writes the watch is expected to deliver back: its registration, its lease renewals. */
type EchoWatch = 'member' | 'lease';

export class PartitionOwnership {
  private readonly opts: Required<Omit<PartitionOwnershipOptions, 'staticPartitions' | 'observer'>> &
    Pick<PartitionOwnershipOptions, 'staticPartitions' | 'observer'>;
  private readonly ttlMs: number;
  private readonly members = new Map<string, Observed<MemberRecord>>();
  private readonly leases = new Map<number, Observed<LeaseRecord>>();
  private readonly held = new Map<number, Held>();
  private readonly acquiring = new Set<number>();
  /** Acquisitions, releases and stops under way. */
  private readonly underWay = new Set<Promise<void>>();
  private readonly memberRecord: MemberRecord;
  private watches: LeaseWatch[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** A reconcile pass is queued (one pass covers every change seen before it runs). */
  private scheduled = false;
  private stopping = false;
  /**
   * Per watch: the last revision of this instance's own writes through it, the highest one it delivered back, and
   * since when (acknowledgement time) one has been waiting for its echo.
   */
  private readonly echoes: Record<EchoWatch, { written: number; echoed: number; since: number | undefined }> =
    {
      member: { written: 0, echoed: 0, since: undefined },
      lease: { written: 0, echoed: 0, since: undefined },
    };
  private rewatching = false;
  /** The last renewal of the registration, until it is answered. */
  private registering: Promise<void> | undefined;
  /** Set once the first registration is stored: passes run from then on. */
  private registered = false;
  /** The deletion of the registration, once `stop` began. */
  private deregistered: Promise<void> | undefined;
  /** When the event loop stood still: an acquisition's log says how long it did while its release was on the way. */
  private readonly loopGaps: LoopGaps;

  constructor(options: PartitionOwnershipOptions) {
    if (!MEMBER_ID.test(options.memberId))
      throw new RangeError(`member id must match ${String(MEMBER_ID)}, got '${options.memberId}'`);
    for (const p of options.staticPartitions ?? []) {
      if (!Number.isInteger(p) || p < 0 || p >= options.partitionCount)
        throw new RangeError(`static partition ${p} is outside [0, ${options.partitionCount})`);
    }
    this.ttlMs = options.bucket.ttlMs;
    this.opts = {
      renewIntervalMs: Math.max(50, Math.floor(options.bucket.ttlMs / 4)),
      logger: silentLogger,
      now: Date.now,
      ...options,
    };
    this.loopGaps = new LoopGaps({ now: this.opts.now });
    this.memberRecord = {
      member: options.memberId,
      startedAtMs: this.opts.now(),
      static: options.staticPartitions !== undefined,
    };
  }

  /** Leases held and being processed now. */
  owned(): Lease[] {
    return [...this.held.values()]
      .filter((h) => h.phase === 'active')
      .map((h) => h.lease)
      .sort((a, b) => a.partition - b.partition);
  }

  /** The partitions this instance should own according to the members it sees. */
  target(): number[] {
    return [...this.computeTarget()].sort((a, b) => a - b);
  }

  /** The live members it sees (itself included). */
  liveMembers(): string[] {
    return [...this.members.keys()].sort();
  }

  /** Registers, learns the members and leases, takes its share, and keeps doing so every heartbeat. */
  async start(): Promise<void> {
    const { bucket, stage } = this.opts;
    this.loopGaps.start();
    // Watching before registering: once the others count this instance in, they release its share to it, and a
    // release it cannot see yet would wait until its watch opened (seconds, on a busy machine).
    // No pass runs before the registration (see `reconcile`): a static instance, or one whose registration of
    // an earlier run is still live, would otherwise take partitions without a heartbeat to renew them.
    this.watches = await this.openWatches();
    try {
      const stopped = () => new Error(`${stage}: stopped while starting`);
      if (this.stopping) throw stopped();
      // Awaited by a `stop` that comes meanwhile, before it deletes the registration.
      this.registering = bucket
        .put(leaseKeys.member(stage, this.opts.memberId), encodeRecord(this.memberRecord))
        .then(() => undefined);
      await this.registering;
      if (this.stopping) throw stopped();
    } catch (err) {
      await Promise.all(this.watches.map((w) => w.stop().catch(() => undefined)));
      this.watches = [];
      this.loopGaps.stop();
      throw err;
    }
    this.members.set(this.opts.memberId, this.observed(this.memberRecord, 0));
    this.registered = true;
    this.timer = setInterval(() => this.heartbeat(), this.opts.renewIntervalMs);
    this.reconcile();
  }

  /** Deregisters, then stops processing every partition (each finishing its turn) and releases the leases. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    // Deregistered first, so the others count this instance out at once: each partition released below is then
    // in its next owner's target already, taken as soon as its release shows. Deregistered last, every partition
    // waited for the slowest one's turn to finish. A registration still in flight is awaited, lest it land after
    // the deletion and keep this instance counted in (its partitions nobody's) until it expires.
    // The partitions start draining meanwhile; their releases are written once the deletion is (see `release`).
    this.deregistered = this.bounded('renew the registration', () => this.registering ?? Promise.resolve())
      .catch(() => undefined)
      .then(() =>
        this.bounded('deregister', () =>
          this.opts.bucket.delete(leaseKeys.member(this.opts.stage, this.opts.memberId)),
        ),
      )
      .then(
        () => undefined,
        (err: unknown) => this.warn('could not deregister', err),
      );
    await Promise.all([...this.held.values()].map((h) => this.release(h, 'shutdown')));
    // Acquisitions still under way release what they take (see `acquire`), tracked as they go.
    while (this.underWay.size > 0) await Promise.all(this.underWay);
    await this.deregistered;
    await Promise.all(this.watches.map((w) => w.stop().catch(() => undefined)));
    this.loopGaps.stop();
  }

  /**
   * Gives up a partition whose effects were refused as stale: another instance holds a newer lease — or, when
   * `newerEpoch` is given and this instance's lease is still the current one, the lease bucket lost its history
   * (its revisions started over below the epochs the stores hold). Then its revisions are moved past
   * `newerEpoch` and the partition is taken again under a larger epoch.
   */
  lose(partition: number, why: string, newerEpoch?: number): void {
    const held = this.held.get(partition);
    if (held === undefined) return;
    if (newerEpoch === undefined || newerEpoch <= held.lease.epoch) this.lost(held, why);
    else this.track(this.catchUp(held, newerEpoch, why));
  }

  private computeTarget(): Set<number> {
    if (this.opts.staticPartitions !== undefined) return new Set(this.opts.staticPartitions);
    const dynamic = [...this.members.entries()]
      .filter(([, m]) => m.record?.static !== true)
      .map(([id]) => id);
    return new Set(assignPartitions(dynamic, this.opts.partitionCount).get(this.opts.memberId) ?? []);
  }

  private observed<T>(record: T | undefined, revision: number): Observed<T> {
    return { record, revision, seenAtMs: this.opts.now() };
  }

  /**
   * One watch over the stage's keys, members and leases alike: it delivers them in the order the bucket stored
   * them. (Two watches deliver independently: a leaving member's releases could arrive before its deregistration,
   * which it stores first, and wait for it, as they are not in this instance's share until then.)
   */
  private async openWatches(): Promise<LeaseWatch[]> {
    const { bucket, stage } = this.opts;
    const memberPrefix = `${leaseKeys.memberPrefix(stage)}.`;
    return [
      await bucket.watch(stage, (e) => (e.key.startsWith(memberPrefix) ? this.onMember(e) : this.onLease(e))),
    ];
  }

  /** A write of this instance's went through `watch` (its registration, a lease renewal), acknowledged at `revision`. */
  private written(watch: EchoWatch, revision: number): void {
    const echo = this.echoes[watch];
    // Revisions that start over (a lease bucket that lost its history) start the comparison over too.
    if (revision < echo.written) echo.echoed = 0;
    echo.written = revision;
    if (revision > echo.echoed) echo.since ??= this.opts.now();
  }

  /** A write of this instance's came back through `watch`. */
  private echoed(watch: EchoWatch, revision: number): void {
    const echo = this.echoes[watch];
    echo.echoed = Math.max(echo.echoed, revision);
    if (echo.echoed >= echo.written) echo.since = undefined;
  }

  /** How long the oldest unanswered write (a registration or a renewal) has waited for its echo. */
  private quietForMs(now: number): number {
    const since = [this.echoes.member.since, this.echoes.lease.since].filter((t) => t !== undefined);
    return since.length === 0 ? 0 : now - Math.min(...since);
  }

  /** Opens the watch again, the quiet one stopped first (a late delivery from it must not undo a newer value). */
  private async rewatch(quietMs: number): Promise<void> {
    if (this.rewatching || this.stopping) return;
    this.rewatching = true;
    this.opts.logger.warn(
      `${this.opts.stage}: the lease bucket's watch did not deliver this instance's own writes for ` +
        `${quietMs} ms; watching again`,
      { quietMs },
    );
    try {
      const quiet = this.watches;
      this.watches = [];
      await Promise.all(quiet.map((w) => w.stop().catch(() => undefined)));
      this.echoes.member.since = this.echoes.lease.since = undefined;
      const fresh = await this.openWatches();
      if (this.stopping) await Promise.all(fresh.map((w) => w.stop().catch(() => undefined)));
      else this.watches = fresh;
      this.schedule();
    } catch (err) {
      this.warn('could not watch the lease bucket again (tried again next heartbeat)', err);
      this.echoes.member.since ??= this.opts.now() - this.ttlMs;
    } finally {
      this.rewatching = false;
    }
  }

  private onMember(entry: LeaseEntry): void {
    const id = memberOfKey(this.opts.stage, entry.key);
    if (id === undefined) return;
    if (id === this.opts.memberId && entry.value !== undefined) this.echoed('member', entry.revision);
    const record = decodeMember(entry.value);
    const known = this.members.has(id);
    if (record === undefined && id !== this.opts.memberId) this.members.delete(id);
    else if (record !== undefined) this.members.set(id, this.observed(record, entry.revision));
    if (known !== (record !== undefined)) this.schedule();
  }

  private onLease(entry: LeaseEntry): void {
    const partition = partitionOfLeaseKey(this.opts.stage, entry.key);
    if (partition === undefined || partition >= this.opts.partitionCount) return;
    const record = decodeLease(entry.value);
    if (record?.owner === this.opts.memberId) this.echoed('lease', entry.revision);
    this.leases.set(partition, {
      ...this.observed(record, entry.revision),
      ...(entry.storedAtMs === undefined ? {} : { storedAtMs: entry.storedAtMs }),
    });
    const held = this.held.get(partition);
    // While releasing, the next owner taking over is the point; only an active lease can be taken from us.
    if (held?.phase === 'active' && entry.revision > held.revision && record?.owner !== this.opts.memberId) {
      this.lost(held, `lease taken over by ${record?.owner || 'nobody (released or expired)'}`);
    }
    if (record === undefined || record.owner === '') this.schedule();
  }

  private heartbeat(): void {
    if (this.stopping) return;
    const { bucket, stage, memberId } = this.opts;
    this.registering = bucket.put(leaseKeys.member(stage, memberId), encodeRecord(this.memberRecord)).then(
      (revision) => {
        this.members.set(memberId, this.observed(this.memberRecord, revision));
        this.written('member', revision);
      },
      (err: unknown) => this.warn('could not renew the registration', err),
    );
    const now = this.opts.now();
    const quietMs = this.quietForMs(now);
    if (quietMs > this.ttlMs / 2) void this.rewatch(quietMs);
    for (const held of this.held.values()) {
      if (held.phase === 'gone') continue;
      // Give up well before the bucket expires the lease (a renewal can hang past it), so the next owner never
      // starts while this one still believes it holds the partition (fencing covers a paused process).
      if (held.phase === 'active' && now - held.renewedAtMs > this.ttlMs / 2)
        this.lost(held, `lease not renewed for ${now - held.renewedAtMs} ms (time to live ${this.ttlMs} ms)`);
      else this.renew(held);
    }
    this.schedule();
  }

  private renew(held: Held): void {
    this.write(held, async () => {
      if (held.phase === 'gone') return;
      const sentAt = this.opts.now();
      try {
        const revision = await this.opts.bucket.update(
          leaseKeys.lease(this.opts.stage, held.lease.partition),
          encodeRecord(held.record),
          held.revision,
        );
        if (revision === undefined) this.lost(held, 'lease taken over (it expired before it was renewed)');
        else {
          held.revision = revision;
          held.renewedAtMs = sentAt;
          this.written('lease', revision);
        }
      } catch (err) {
        this.warn(`could not renew the lease of partition ${held.lease.partition}`, err);
      }
    });
  }

  /**
   * Queues a reconcile pass, run once the current callback is done: the changes seen meanwhile are taken in by
   * that one pass, and a pass never runs inside another (a release or a start it makes may report back).
   */
  private schedule(): void {
    if (this.stopping || this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.reconcile();
    });
  }

  /** Releases what left this instance's target, and goes for the free leases in it (neither awaited). */
  private reconcile(): void {
    if (this.stopping || !this.registered) return;
    try {
      this.reconcilePass();
    } catch (err) {
      this.warn('reconcile failed', err);
    }
  }

  private reconcilePass(): void {
    const now = this.opts.now();
    for (const [id, member] of this.members) {
      if (id !== this.opts.memberId && now - member.seenAtMs > this.ttlMs) this.members.delete(id);
    }
    const target = this.computeTarget();
    for (const held of this.held.values()) {
      if (held.phase === 'active' && !target.has(held.lease.partition))
        this.track(this.release(held, 'handover'));
    }
    for (const partition of target) {
      if (this.held.has(partition) || this.acquiring.has(partition)) continue;
      const seen = this.leases.get(partition);
      const taken = seen?.record !== undefined && seen.record.owner !== '';
      // A holder renews every heartbeat; one not heard from for the time to live has let its lease expire.
      if (taken && now - seen.seenAtMs <= this.ttlMs) continue;
      // Not awaited: a partition released while these round trips are under way is gone for at once, by the next
      // pass, instead of after them (`acquiring` keeps a partition from being gone for twice).
      this.track(this.acquire(partition, seen));
    }
  }

  /**
   * Takes a free lease: by compare-and-set on the released record when its owner released it, else by creating
   * the key (never taken, or expired with its owner).
   */
  private async acquire(partition: number, seen: Observed<LeaseRecord> | undefined): Promise<void> {
    const { bucket, stage, memberId } = this.opts;
    const key = leaseKeys.lease(stage, partition);
    this.acquiring.add(partition);
    try {
      const now = this.opts.now();
      const previous = seen?.record;
      const released = previous !== undefined && previous.owner === '';
      const record: LeaseRecord = {
        owner: memberId,
        epoch: 0,
        acquiredAtMs: now,
        previousOwner: (released ? previous.previousOwner : previous?.owner) ?? '',
        pauseMs: released && previous.releasedAtMs !== null ? Math.max(0, now - previous.releasedAtMs) : null,
        releasedAtMs: null,
      };
      const sentAt = now;
      const epoch = await this.bounded(`acquire partition ${partition}`, () =>
        released
          ? bucket.update(key, encodeRecord(record), seen!.revision)
          : bucket.create(key, encodeRecord(record)),
      );
      if (epoch === undefined) {
        // Another instance was quicker (its write shows in the watch) — or what this instance saw is out of date
        // in a way no watch event tells: a released lease that expired since (after the time to live, as when its
        // next owner could not write for a while), which only `create` can take now. Read the key again.
        await this.refresh(partition, seen);
        return;
      }
      record.epoch = epoch;
      const revision = await this.bounded(`record the epoch of partition ${partition}`, () =>
        bucket.update(key, encodeRecord(record), epoch),
      );
      if (revision === undefined) return;
      const lease: Lease = { partition, epoch };
      const held: Held = {
        lease,
        record,
        revision,
        phase: 'active',
        renewedAtMs: sentAt,
        writes: Promise.resolve(),
      };
      this.held.set(partition, held);
      this.opts.logger.info(`${stage}: acquired partition ${partition}`, {
        partition,
        epoch,
        previousOwner: record.previousOwner,
        pauseMs: record.pauseMs,
        // Where a hand-over's pause went: until this instance saw the release (until the bucket stored it, then
        // until its watch delivered it here, with the longest this process's event loop stood still meanwhile and
        // the garbage collector's pauses in all),
        // then until it went for the lease.
        ...(released && previous.releasedAtMs !== null
          ? {
              noticedAfterMs: Math.max(0, seen!.seenAtMs - previous.releasedAtMs),
              ...(seen!.storedAtMs === undefined
                ? {}
                : {
                    storedAfterMs: Math.max(0, seen!.storedAtMs - previous.releasedAtMs),
                    deliveredAfterMs: Math.max(0, seen!.seenAtMs - seen!.storedAtMs),
                    loopStoodStillMs: this.loopGaps.longestWithin(seen!.storedAtMs, seen!.seenAtMs),
                    gcMs: this.loopGaps.gcWithin(seen!.storedAtMs, seen!.seenAtMs),
                  }),
              queuedMs: Math.max(0, now - seen!.seenAtMs),
            }
          : {}),
      });
      this.opts.observer?.acquired?.(lease, { previousOwner: record.previousOwner, pauseMs: record.pauseMs });
      this.opts.start(lease);
      if (this.stopping) this.track(this.release(held, 'shutdown'));
    } catch (err) {
      this.warn(`could not acquire partition ${partition}`, err);
    } finally {
      this.acquiring.delete(partition);
      // What was seen of the lease changed while this attempt was under way (a watch event, or the read after a
      // refused compare-and-set): the passes run meanwhile skipped the partition as being acquired, so another
      // runs now. (Unchanged, a failed attempt waits for the next heartbeat: no loop of refused writes.)
      // Taken after it left the target (members changed meanwhile), it is handed over by another pass too.
      if (
        this.held.has(partition) ? !this.computeTarget().has(partition) : this.leases.get(partition) !== seen
      )
        this.schedule();
    }
  }

  /**
   * Reads a partition's lease again after a compare-and-set based on `seen` failed, so that it is tried again at
   * once (see `acquire`) when the bucket holds something else than what was seen (a newer value, or none: the key
   * expired). A watch event as new as the read, or newer, is kept.
   */
  private async refresh(partition: number, seen: Observed<LeaseRecord> | undefined): Promise<void> {
    const entry = await this.bounded(`read the lease of partition ${partition}`, () =>
      this.opts.bucket.get(leaseKeys.lease(this.opts.stage, partition)),
    );
    const current = this.leases.get(partition);
    // A watch event as new as the read is kept: it tells when the value was stored and when it arrived here.
    if (
      current !== undefined &&
      (entry === undefined ? current.revision > (seen?.revision ?? 0) : current.revision >= entry.revision)
    )
      return;
    if (entry === undefined) {
      if (current === undefined) return; // nothing was seen, nothing is there: create failed for another reason
      this.leases.delete(partition);
    } else {
      if (entry.revision === seen?.revision) return;
      this.leases.set(partition, this.observed(decodeLease(entry.value), entry.revision));
    }
  }

  /**
   * A lease bucket call that gives up after the time to live: an answer that never comes must not hold an
   * acquisition (and with it the partition) forever. A write that lands after it was given up leaves a lease
   * nobody renews, which expires after the time to live.
   */
  private bounded<R>(what: string, call: () => Promise<R>): Promise<R> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: no answer from the lease bucket within ${this.ttlMs} ms`)),
        this.ttlMs,
      );
    });
    return Promise.race([call(), timeout]).finally(() => clearTimeout(timer));
  }

  /** Stops processing, then marks the lease released so the next owner can take it without waiting. */
  private async release(held: Held, reason: RevokeReason): Promise<void> {
    if (held.phase !== 'active') return;
    held.phase = 'releasing';
    const { partition } = held.lease;
    const started = this.opts.now();
    try {
      await this.opts.stop(held.lease, reason);
    } catch (err) {
      this.warn(`stopping partition ${partition} failed`, err);
    }
    const drainMs = this.opts.now() - started;
    // Stopping, the release is stored after the deregistration, which the others then see first.
    if (reason === 'shutdown') await this.deregistered;
    this.write(held, async () => {
      if (held.phase === 'gone') return;
      const record: LeaseRecord = {
        ...held.record,
        owner: '',
        previousOwner: this.opts.memberId,
        releasedAtMs: this.opts.now(),
      };
      await this.opts.bucket
        .update(leaseKeys.lease(this.opts.stage, partition), encodeRecord(record), held.revision)
        .catch((err: unknown) => this.warn(`could not release partition ${partition}`, err));
    });
    await held.writes;
    // A loss may have overtaken the release meanwhile.
    if ((held.phase as Held['phase']) === 'gone') return;
    held.phase = 'gone';
    this.held.delete(partition);
    // Back in the target while it was being released: the passes run meanwhile skipped it as still held.
    if (!this.stopping && this.computeTarget().has(partition)) this.schedule();
    this.opts.logger.info(`${this.opts.stage}: released partition ${partition}`, {
      partition,
      epoch: held.lease.epoch,
      reason,
      drainMs,
    });
    this.opts.observer?.released?.(held.lease, { reason, drainMs });
  }

  private lost(held: Held, why: string): void {
    if (held.phase === 'gone') return;
    held.phase = 'gone';
    this.held.delete(held.lease.partition);
    this.opts.logger.warn(`${this.opts.stage}: lost partition ${held.lease.partition}`, {
      partition: held.lease.partition,
      epoch: held.lease.epoch,
      why,
    });
    this.opts.observer?.lost?.(held.lease, { why });
    this.track(
      this.opts
        .stop(held.lease, 'lost')
        .catch((err: unknown) => this.warn(`stopping partition ${held.lease.partition} failed`, err)),
    );
    this.schedule();
  }

  private async catchUp(held: Held, newerEpoch: number, why: string): Promise<void> {
    const { bucket, stage, memberId } = this.opts;
    const key = leaseKeys.lease(stage, held.lease.partition);
    const current = decodeLease((await bucket.get(key).catch(() => undefined))?.value);
    this.lost(held, why);
    if (current?.owner !== memberId || current.epoch !== held.lease.epoch) return; // a newer owner: a plain loss
    this.opts.logger.warn(
      `${stage}: the lease bucket is behind the stores' fences; moving its revisions on`,
      {
        partition: held.lease.partition,
        epoch: held.lease.epoch,
        storesEpoch: newerEpoch,
      },
    );
    try {
      await bucket.advanceRevision(newerEpoch);
      await bucket.delete(key);
    } catch (err) {
      this.warn("could not move the lease bucket past the stores' epochs", err);
    }
    this.schedule();
  }

  private write(held: Held, work: () => Promise<void>): void {
    held.writes = held.writes.then(work, work);
  }

  private track(work: Promise<void>): void {
    this.underWay.add(work);
    void work.finally(() => this.underWay.delete(work));
  }

  private warn(message: string, err: unknown): void {
    this.opts.logger.warn(`${this.opts.stage}: ${message}`, { error: ensureError(err).message });
  }
}
