/**
 * Consumers that outlive their deletion on one server of a NATS cluster.
 *
 * Measured on nats-server 2.9.10 (three nodes, a work-queue stream with three copies): a consumer deleted while one
 * of the stream's servers is down is gone from the cluster's meta data (`consumers.list` no longer names it), yet
 * the server, once restarted, keeps it among its stream's consumers. Every later consumer on the same filter
 * subject is then refused by that server — "filtered consumer not unique on workqueue stream" (10100) — for as long
 * as the ghost lives: a stepdown of the stream or meta leader does not clear it. A partition whose owner moves is
 * consumed under a new consumer (one per lease epoch), so that partition would stop for good.
 *
 * What clears it: creating a consumer of the ghost's own name (the server finds it and takes it for that consumer)
 * and deleting it again while every server is up. The ghost's name is not listed anywhere, so the names of the
 * consumers deleted on each partition are kept: in this process, and in the description of the consumer that
 * replaced them, so that whoever takes the partition over next knows them too.
 */
import type { ConsumerConfig, JetStreamManager } from '@nats-io/jetstream';
import { isNotUnique } from './nats-errors.js';

/** Names kept per partition: the consumers deleted most recently. */
const KEPT = 8;
const DESCRIPTION_PREFIX = 'replaces: ';
/** The names a consumer's description says it replaced (`describeReplaced`). */
export function replacedNames(description: string | undefined): string[] {
  if (description === undefined || !description.startsWith(DESCRIPTION_PREFIX)) return [];
  return description
    .slice(DESCRIPTION_PREFIX.length)
    .split(' ')
    .filter((name) => name.length > 0);
}

/** The description of a consumer created after the consumers `names` (oldest first) were deleted. */
export function describeReplaced(names: readonly string[]): string | undefined {
  const kept = names.slice(-KEPT);
  return kept.length === 0 ? undefined : `${DESCRIPTION_PREFIX}${kept.join(' ')}`;
}

/** The names of the consumers deleted on each stream and filter subject, as far as this process knows. */
export class DeletedConsumers {
  private readonly byFilter = new Map<string, string[]>();

  /** Adds `names` (oldest first) to what is known of `stream`'s consumers on `subject`. */
  remember(stream: string, subject: string, names: Iterable<string>): void {
    const key = `${stream} ${subject}`;
    const known = (this.byFilter.get(key) ?? []).slice();
    for (const name of names) {
      const at = known.indexOf(name);
      if (at >= 0) known.splice(at, 1);
      known.push(name);
    }
    this.byFilter.set(key, known.slice(-KEPT));
  }

  of(stream: string, subject: string): string[] {
    return this.byFilter.get(`${stream} ${subject}`) ?? [];
  }
}

/**
 * Adds the consumer `desired`; when a server refuses it as not unique although no other consumer on its filter
 * subject exists, clears the ghosts among `deleted` (re-created and deleted again) and adds it once more.
 * @returns the ghosts cleared (empty when the first add succeeded).
 */
export async function addConsumerClearingGhosts(
  jsm: JetStreamManager,
  stream: string,
  desired: Partial<ConsumerConfig>,
  deleted: readonly string[],
): Promise<string[]> {
  try {
    await jsm.consumers.add(stream, desired);
    return [];
  } catch (err) {
    if (!isNotUnique(err)) throw err;
    const name = desired.durable_name;
    const visible: string[] = [];
    for await (const info of jsm.consumers.list(stream))
      if (info.config.filter_subject === desired.filter_subject && info.name !== name)
        visible.push(info.name);
    // A consumer the cluster knows of holds the subject: a true conflict, for the caller to resolve.
    if (visible.length > 0) throw err;
    const candidates = deleted.filter((ghost) => ghost !== name);
    if (candidates.length === 0) throw err;
    const cleared: string[] = [];
    // Oldest first, and only until the consumer can be added: a name re-created is briefly a consumer again, and
    // the fewer (and the older) those are, the less likely their owner of long ago is still around to ack on one.
    // Two passes: a name re-created on a server that holds another ghost is refused there until that one is gone.
    for (let pass = 1; pass <= 2; pass++) {
      for (const ghost of candidates) {
        if (cleared.includes(ghost)) continue;
        try {
          await jsm.consumers.add(stream, {
            ...desired,
            durable_name: ghost,
            description: 'ghost being removed',
          });
        } catch (addErr) {
          if (isNotUnique(addErr)) continue;
          throw addErr;
        }
        await jsm.consumers.delete(stream, ghost);
        cleared.push(ghost);
        try {
          await jsm.consumers.add(stream, desired);
          return cleared;
        } catch (again) {
          if (!isNotUnique(again)) throw again;
        }
      }
    }
    await jsm.consumers.add(stream, desired);
    return cleared;
  }
}
