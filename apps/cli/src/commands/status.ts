/**
 * `throughline status`: who owns which partition of each stage, under which lease epoch, how much waits in each
 * partition, and its last hand-over — read from the lease bucket and the streams in NATS.
 */
import { Command } from 'commander';
import pc from 'picocolors';
import type { Bus } from '@throughline/bus';
import { STAGE_NAMES, STAGES } from '@throughline/pipeline';
import { readOwnership, type OwnershipView } from '@throughline/runtime';
import { CliError } from '../errors.js';
import { connectNats } from '../nats.js';
import { count, millis, table } from '../format.js';
import { natsUrlOption, partitionsOption } from '../options.js';

interface StatusFlags {
  natsUrl: string;
  partitions: number;
  json?: boolean;
}

/** One stage's ownership and, per partition, its backlog: messages not yet acknowledged (pending + unacked). */
export interface StageStatus extends OwnershipView {
  lag: Record<number, number>;
}

export function statusCommand(): Command {
  return new Command('status')
    .description('show, per stage and partition, the owner, the lease epoch, the lag and the last hand-over')
    .addOption(natsUrlOption())
    .addOption(partitionsOption())
    .option('--json', 'print the status as JSON')
    .action(async (flags: StatusFlags) => {
      const bus = await connectNats(flags.natsUrl, 'status');
      try {
        const stages = await readStatus(bus, flags.partitions);
        process.stdout.write(flags.json ? `${JSON.stringify(stages, null, 2)}\n` : render(stages));
      } finally {
        await bus.close();
      }
    });
}

async function readStatus(bus: Bus, partitionCount: number): Promise<StageStatus[]> {
  let bucket;
  try {
    bucket = await bus.leases();
  } catch (err) {
    throw new CliError('no lease bucket in this NATS: no throughline service has started against it', {
      cause: err,
    });
  }
  return Promise.all(
    STAGE_NAMES.map(async (name) => {
      const view = await readOwnership(bucket, name, partitionCount);
      const lag: Record<number, number> = {};
      await Promise.all(
        view.partitions.map(async ({ partition }) => {
          const b = await bus.backlog({ group: name, topic: STAGES[name].consumes, partition });
          lag[partition] = b.pending + b.ackPending;
        }),
      );
      return { ...view, lag };
    }),
  );
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function render(stages: StageStatus[]): string {
  const out: string[] = [];
  for (const s of stages) {
    const members = s.members.length === 0 ? pc.yellow('none') : s.members.map((m) => m.member).join(', ');
    out.push(`${pc.bold(s.stage)}  instances: ${members}`);
    const rows = [['partition', 'owner', 'epoch', 'lag', 'since', 'last hand-over']];
    for (const p of s.partitions) {
      const handover =
        p.previousOwner === ''
          ? ''
          : `from ${p.previousOwner}${p.pauseMs === null ? '' : ` (paused ${millis(p.pauseMs)})`}`;
      rows.push([
        String(p.partition),
        p.owner === '' ? pc.yellow('(free)') : p.owner,
        p.owner === '' ? '' : String(p.epoch),
        count(s.lag[p.partition] ?? 0),
        p.acquiredAtMs === null ? '' : clock(p.acquiredAtMs),
        handover,
      ]);
    }
    out.push(table(rows), '');
  }
  return `${out.join('\n')}\n`;
}
