/**
 * What three copies of every stream cost: the same steady run on one NATS server with one copy of each stream, and
 * on a three-node NATS cluster (on this machine) with three (`BUS_STREAM_REPLICAS=3`: a publish is acknowledged once
 * two nodes hold it). Rounds alternate; the ratio compares medians. Both run the same nats-server, 2.10 or newer
 * (three copies need it): the one on PATH when it is, else one the test kit fetches from Debian.
 */
import type { Event } from '@throughline/contracts';
import { natsServerAtLeast } from '@throughline/testkit';
import { runPipeline, type PipelineRow } from '../pipeline-run.js';
import type { Sizes } from '../sizes.js';
import { alternate, type SideBySide } from './side-by-side.js';

export type ReplicationReport = SideBySide<'single', 'replicated'>;

export async function runReplication(
  sizes: Sizes,
  events: Event[],
  opts: { rounds?: number; onRow?: (row: PipelineRow) => void } = {},
): Promise<ReplicationReport> {
  const natsBinary = await natsServerAtLeast('2.10');
  return alternate(
    ['single', 'replicated'],
    async (variant, round) => {
      const row = await runPipeline(
        {
          label: `${variant === 'replicated' ? 'R3 on a 3-node cluster' : 'R1 on one server'}, round ${round}`,
          env: { PIPELINE_MODE: 'optimized' },
          events: events.length,
          // A cluster elects the leaders of the streams it has just created in the first seconds of the run.
          timeBoxMs: sizes.timeBoxMs * 3 + 30_000,
          instances: { enrich: 1, state: 2, writer: 2 },
          verify: true,
          replicated: variant === 'replicated',
          natsBinary,
        },
        events,
      );
      opts.onRow?.(row);
      return row;
    },
    opts.rounds ?? 2,
  );
}
