/**
 * `throughline dlq list | show | redrive | purge`: work the dead-letter stream (`TL_DEAD_LETTER`).
 *
 * A dead letter is named by its sequence in that stream. Redrive sends a dead letter's events back through the
 * pipeline once what refused them is fixed: they are ingested again, to the partition of their account. The rule
 * for positions and order: a redriven event gets a new position, after everything its partition has seen, so it is
 * applied after the events that arrived while it waited (its `occurred_at_ms` is unchanged); it is applied exactly
 * once, because the state stage skips an `event_id` another position claimed (in Redis, within the horizon) or
 * committed (in the ledger, for good). An event the state stage dead-lettered had its id claimed for the position it
 * had then: the redrive names that position (`redriven_from`), and the claim passes to the new one. This holds for
 * what enrich dead-lettered (an ingested batch, or one event of it) and for what the state stage dead-lettered (an
 * enriched batch, whose events are enriched again with today's configuration). The writer's dead letters are
 * results whose effect the state stage already counted (in Redis, and in the balance of any later result of the same
 * account): they go back to the writer as they are, to the partition they came from, marked `Tl-Redriven`, and the
 * writer commits them whatever state epoch produced them. A result's ledger row is inserted once by its `event_id`
 * and the balance moves only forward by position, so a redriven result adds its row, moves its account's balance
 * only when no later result has, and redriving it twice changes nothing.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Headers, type Bus, type DeadLetter } from '@throughline/bus';
import {
  EnrichedBatch,
  EventBatch,
  partitionOf,
  ResultBatch,
  subjects,
  TOPICS,
  type Event,
  type Topic,
} from '@throughline/contracts';
import { poisonReason, STAGES, STAGE_NAMES } from '@throughline/pipeline';
import { CliError, usageError } from '../errors.js';
import { connectNats } from '../nats.js';
import { count, table } from '../format.js';
import { duration, natsUrlOption, nonNegativeInt, partitionsOption, positiveInt } from '../options.js';

/** Dead letters read at most per command; more are reported, never silently left out. */
const MAX_SCAN = 100_000;

interface CommonFlags {
  natsUrl: string;
  partitions: number;
}

interface FilterFlags extends CommonFlags {
  stage?: string;
  partition?: number;
  reason?: RegExp;
  since?: number;
  all?: boolean;
  json?: boolean;
  limit?: number;
}

/** A dead letter with where it came from, and what its body holds. */
export interface DeadLetterView {
  seq: number;
  storedAt: string;
  /** The stage that dead-lettered it (the consumer of its topic). */
  stage: string;
  topic: string;
  partition: number;
  /** Its stream sequence in that topic. */
  originalSeq: number;
  /** For one event of a batch dead-lettered alone: its index in the batch. */
  part: number | null;
  deliveries: number;
  reason: string;
  /** Events (or results) in its body; null when the body cannot be decoded. */
  events: number | null;
}

function origin(letter: DeadLetter): { topic: Topic | undefined; partition: number } {
  const match = /^tl\.([a-z]+)\.(\d+)$/.exec(letter.originalSubject);
  const topic = TOPICS.find((t) => t === match?.[1]);
  return { topic, partition: match ? Number(match[2]) : -1 };
}

function stageOf(topic: Topic | undefined): string {
  return STAGE_NAMES.find((s) => STAGES[s].consumes === topic) ?? 'unknown';
}

/** An event to redrive, and the position its id was claimed for by the state stage (0n: none). */
interface Redriven {
  event: Event;
  redrivenFrom: bigint;
}

/** The events of a dead letter's body, or why there are none to redrive. */
function eventsOf(letter: DeadLetter, topic: Topic | undefined): { events: Redriven[] } | { error: string } {
  try {
    if (topic === 'ingested') {
      // An enrich dead letter; an event of it may itself have been redriven from the state stage before.
      const batch = EventBatch.decode(letter.data);
      return {
        events: batch.events.map((event, i) => ({ event, redrivenFrom: batch.redrivenFrom[i] ?? 0n })),
      };
    }
    if (topic === 'enriched')
      // The state stage claimed these ids for the positions they had: the redrive names them.
      return {
        events: EnrichedBatch.decode(letter.data).events.flatMap((e) =>
          e.event ? [{ event: e.event, redrivenFrom: e.position }] : [],
        ),
      };
    return { error: `from an unknown subject ${letter.originalSubject}` };
  } catch (err) {
    return {
      error: `its body cannot be decoded (${err instanceof Error ? err.message : String(err)}): purge it`,
    };
  }
}

function countEvents(letter: DeadLetter, topic: Topic | undefined): number | null {
  try {
    if (topic === 'ingested') return EventBatch.decode(letter.data).events.length;
    if (topic === 'enriched') return EnrichedBatch.decode(letter.data).events.length;
    if (topic === 'applied') return ResultBatch.decode(letter.data).results.length;
  } catch {
    // undecodable: reported as null
  }
  return null;
}

export function viewOf(letter: DeadLetter): DeadLetterView {
  const { topic, partition } = origin(letter);
  return {
    seq: letter.seq,
    storedAt: new Date(letter.storedAtMs).toISOString(),
    stage: stageOf(topic),
    topic: topic ?? 'unknown',
    partition,
    originalSeq: letter.originalSeq,
    part: letter.part ?? null,
    deliveries: letter.deliveries,
    reason: letter.reason,
    events: countEvents(letter, topic),
  };
}

function regex(value: string): RegExp {
  try {
    return new RegExp(value);
  } catch (err) {
    throw new InvalidArgumentError(
      `not a regular expression: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function withConnection(cmd: Command): Command {
  return cmd.addOption(natsUrlOption()).addOption(partitionsOption());
}

function withFilters(cmd: Command): Command {
  return cmd
    .addOption(new Option('--stage <stage>', 'only what this stage dead-lettered').choices([...STAGE_NAMES]))
    .addOption(new Option('--partition <p>', 'only from this partition').argParser(nonNegativeInt))
    .addOption(new Option('--reason <regex>', 'only dead letters whose reason matches').argParser(regex))
    .addOption(
      new Option('--since <duration>', 'only dead letters of the last 30s, 15m, 2h…').argParser(duration),
    );
}

function connect(flags: CommonFlags): Promise<Bus> {
  return connectNats(flags.natsUrl, 'dlq');
}

/** Every dead letter matching the filters (or the sequences given), oldest first. */
async function select(bus: Bus, seqs: number[], flags: FilterFlags): Promise<DeadLetter[]> {
  const letters = await bus.readDeadLetters({ limit: MAX_SCAN });
  if (letters.length >= MAX_SCAN)
    process.stderr.write(
      `warning: read the oldest ${count(MAX_SCAN)} dead letters only; narrow down and repeat\n`,
    );
  const wanted = new Set(seqs);
  const since = flags.since === undefined ? undefined : Date.now() - flags.since;
  const selected = letters.filter((letter) => {
    if (wanted.size > 0 && !wanted.has(letter.seq)) return false;
    const { topic, partition } = origin(letter);
    if (flags.stage !== undefined && stageOf(topic) !== flags.stage) return false;
    if (flags.partition !== undefined && partition !== flags.partition) return false;
    if (flags.reason !== undefined && !flags.reason.test(letter.reason)) return false;
    if (since !== undefined && letter.storedAtMs < since) return false;
    return true;
  });
  const missing = seqs.filter((s) => !selected.some((l) => l.seq === s));
  if (missing.length > 0)
    throw new CliError(`no dead letter ${missing.join(', ')} (see \`throughline dlq list\`)`);
  return selected;
}

/** Redrive and purge act on the sequences given, or on what the filters select — never on everything by accident. */
function requireSelection(seqs: number[], flags: FilterFlags, verb: string): void {
  const filtered =
    flags.stage !== undefined ||
    flags.partition !== undefined ||
    flags.reason !== undefined ||
    flags.since !== undefined;
  if (seqs.length === 0 && !filtered && flags.all !== true)
    throw usageError(`say which dead letters to ${verb}: their sequences, a filter, or --all`);
}

function sequences(values: string[]): number[] {
  return values.map((v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw usageError(`not a dead-letter sequence: ${v}`);
    return n;
  });
}

function listCommand(): Command {
  return withFilters(withConnection(new Command('list')))
    .description('list dead letters, oldest first: sequence, time, stage, partition, events and reason')
    .addOption(new Option('--limit <n>', 'show at most this many').argParser(positiveInt).default(100))
    .option('--json', 'print them as JSON')
    .action(async (flags: FilterFlags) => {
      const bus = await connect(flags);
      try {
        const selected = await select(bus, [], flags);
        const shown = selected.slice(0, flags.limit).map(viewOf);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
          return;
        }
        if (shown.length === 0) {
          process.stdout.write('no dead letters\n');
          return;
        }
        const rows = [['seq', 'dead-lettered at', 'stage', 'partition', 'item', 'events', 'reason']];
        for (const v of shown)
          rows.push([
            String(v.seq),
            v.storedAt.replace('T', ' ').slice(0, 19),
            v.stage,
            String(v.partition),
            v.part === null ? '' : String(v.part),
            v.events === null ? '?' : String(v.events),
            v.reason.length > 100 ? `${v.reason.slice(0, 99)}…` : v.reason,
          ]);
        process.stdout.write(`${table(rows, '', 'left')}\n`);
        if (selected.length > shown.length)
          process.stdout.write(`… and ${count(selected.length - shown.length)} more (raise --limit)\n`);
      } finally {
        await bus.close();
      }
    });
}

function showCommand(): Command {
  return withConnection(new Command('show'))
    .description('show one dead letter: where it came from, why, its headers and its decoded body')
    .argument('<seq>', 'its sequence (from `dlq list`)')
    .action(async (seq: string, flags: CommonFlags) => {
      const bus = await connect(flags);
      try {
        const [letter] = await select(bus, sequences([seq]), flags);
        const { topic } = origin(letter!);
        let body: unknown;
        try {
          if (topic === 'ingested') body = EventBatch.toJSON(EventBatch.decode(letter!.data));
          else if (topic === 'enriched') body = EnrichedBatch.toJSON(EnrichedBatch.decode(letter!.data));
          else if (topic === 'applied') body = ResultBatch.toJSON(ResultBatch.decode(letter!.data));
        } catch (err) {
          body = {
            undecodable: err instanceof Error ? err.message : String(err),
            bytes: letter!.data.length,
          };
        }
        const out = {
          ...viewOf(letter!),
          headers: Object.fromEntries(letter!.headers),
          body,
        };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } finally {
        await bus.close();
      }
    });
}

function redriveCommand(): Command {
  return withFilters(withConnection(new Command('redrive')))
    .description(
      'send dead letters back through the pipeline (their events are ingested again, to their account’s partition; a writer’s results go back to the writer) and remove them',
    )
    .argument('[seq...]', 'sequences to redrive (from `dlq list`)')
    .option('--all', 'redrive every dead letter')
    .option('--json', 'print what was done as JSON')
    .addHelpText(
      'after',
      '\nA redriven event gets a new position after everything its partition has seen, and is applied exactly once: the\nstate stage skips an event_id already applied. Events that still fail ingest’s checks are not sent. A writer’s\ndead letter (results the state stage already counted) goes back to the writer of its partition as it is: its ledger\nrows are inserted once by event_id, and a balance moves only forward by position.',
    )
    .action(async (values: string[], flags: FilterFlags) => {
      const seqs = sequences(values);
      requireSelection(seqs, flags, 'redrive');
      const bus = await connect(flags);
      const done: { seq: number; events: number }[] = [];
      const refused: { seq: number; why: string }[] = [];
      try {
        for (const letter of await select(bus, seqs, flags)) {
          const { topic, partition } = origin(letter);
          if (topic === 'applied') {
            const results = await redriveToWriter(bus, letter, partition, flags.partitions);
            if (typeof results === 'string') refused.push({ seq: letter.seq, why: results });
            else done.push({ seq: letter.seq, events: results });
            continue;
          }
          const found = eventsOf(letter, topic);
          if ('error' in found) {
            refused.push({ seq: letter.seq, why: found.error });
            continue;
          }
          const poison = found.events
            .map(({ event: e }, i) =>
              poisonReason(e, i, partitionOf(e.accountId, flags.partitions), flags.partitions),
            )
            .find((r) => r !== undefined);
          if (poison !== undefined) {
            refused.push({ seq: letter.seq, why: `still fails ingest's checks: ${poison}` });
            continue;
          }
          const byPartition = new Map<number, Redriven[]>();
          for (const r of found.events) {
            const p = partitionOf(r.event.accountId, flags.partitions);
            byPartition.set(p, [...(byPartition.get(p) ?? []), r]);
          }
          const acceptedAtMs = BigInt(Date.now());
          for (const [p, redriven] of byPartition) {
            // The id makes a repeated redrive of the same letter (after a crash) one message within the window;
            // past it, the state stage recognises the events by their ids.
            const id = `redrive-${letter.seq}-${p}`;
            await bus.publish(
              subjects.of('ingested', p),
              EventBatch.encode({
                batchId: id,
                partition: p,
                acceptedAtMs,
                events: redriven.map((r) => r.event),
                // Only when one of them has a former position: a batch from ingest never carries the field.
                redrivenFrom: redriven.some((r) => r.redrivenFrom > 0n)
                  ? redriven.map((r) => r.redrivenFrom)
                  : [],
              }).finish(),
              { msgId: id },
            );
          }
          await bus.removeDeadLetter(letter.seq);
          done.push({ seq: letter.seq, events: found.events.length });
        }
      } finally {
        await bus.close();
      }
      if (flags.json) process.stdout.write(`${JSON.stringify({ redriven: done, refused }, null, 2)}\n`);
      else {
        const events = done.reduce((n, d) => n + d.events, 0);
        process.stdout.write(`redrove ${count(done.length)} dead letters (${count(events)} events)\n`);
        for (const r of refused) process.stdout.write(`not redriven: ${r.seq}: ${r.why}\n`);
      }
      if (refused.length > 0)
        throw new CliError(
          `${refused.length} dead letters were not redriven (see above); they stay in the stream`,
        );
    });
}

/**
 * Sends a writer's dead letter back to the writer, to the partition it came from, and removes it; resolves to the
 * number of results, or to why it was not sent.
 */
async function redriveToWriter(
  bus: Bus,
  letter: DeadLetter,
  partition: number,
  partitions: number,
): Promise<number | string> {
  let batch: ResultBatch;
  try {
    batch = ResultBatch.decode(letter.data);
  } catch (err) {
    return `its body cannot be decoded (${err instanceof Error ? err.message : String(err)}): purge it`;
  }
  // The writer moves the balances of the partition it owns: a result of another partition's account would move a
  // balance another writer owns.
  const foreign = batch.results.find((r) => partitionOf(r.accountId, partitions) !== partition);
  if (foreign !== undefined)
    return `result ${JSON.stringify(foreign.eventId.slice(0, 128))} is of account ${JSON.stringify(foreign.accountId.slice(0, 128))}, not of partition ${partition}: purge it`;
  // The id makes a repeated redrive of the same letter (after a crash) one message within the window; past it, the
  // ledger holds each result's row once by its event id.
  const id = `redrive-${letter.seq}-${partition}`;
  await bus.publish(subjects.of('applied', partition), letter.data, {
    msgId: id,
    headers: { [Headers.redriven]: String(letter.seq) },
  });
  await bus.removeDeadLetter(letter.seq);
  return batch.results.length;
}

function purgeCommand(): Command {
  return withFilters(withConnection(new Command('purge')))
    .description('delete dead letters for good')
    .argument('[seq...]', 'sequences to delete (from `dlq list`)')
    .option('--all', 'delete every dead letter')
    .action(async (values: string[], flags: FilterFlags) => {
      const seqs = sequences(values);
      requireSelection(seqs, flags, 'purge');
      const bus = await connect(flags);
      let removed = 0;
      try {
        for (const letter of await select(bus, seqs, flags))
          if (await bus.removeDeadLetter(letter.seq)) removed++;
      } finally {
        await bus.close();
      }
      process.stdout.write(`purged ${count(removed)} dead letters\n`);
    });
}

export function dlqCommand(): Command {
  return new Command('dlq')
    .description('work the dead letters: list, show, redrive once the cause is fixed, purge')
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(redriveCommand())
    .addCommand(purgeCommand());
}
