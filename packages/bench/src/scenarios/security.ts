/**
 * What securing every hop costs: the same steady run with everything plaintext and open, and with every hop
 * secured as the shipped configurations say (`startSecuredServers`: NATS with mutual TLS and a password, Redis TLS
 * with client certificates and an ACL user, PostgreSQL SSL verified against its CA, gRPC TLS on ingest and config,
 * a client token on every call). Rounds alternate, so both see the same machine; the ratio compares medians.
 */
import type { Event } from '@throughline/contracts';
import { runPipeline, type PipelineRow } from '../pipeline-run.js';
import type { Sizes } from '../sizes.js';
import { alternate, type SideBySide } from './side-by-side.js';

export type SecurityReport = SideBySide<'plaintext', 'secured'>;

export async function runSecurity(
  sizes: Sizes,
  events: Event[],
  opts: { rounds?: number; onRow?: (row: PipelineRow) => void } = {},
): Promise<SecurityReport> {
  return alternate(
    ['plaintext', 'secured'],
    async (variant, round) => {
      const row = await runPipeline(
        {
          label: `${variant === 'secured' ? 'every hop secured' : 'plaintext'}, round ${round}`,
          env: { PIPELINE_MODE: 'optimized' },
          events: events.length,
          timeBoxMs: sizes.timeBoxMs * 3,
          instances: { enrich: 1, state: 2, writer: 2 },
          verify: true,
          secured: variant === 'secured',
        },
        events,
      );
      opts.onRow?.(row);
      return row;
    },
    opts.rounds ?? 2,
  );
}
