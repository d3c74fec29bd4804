/**
 * What securing every hop costs: the same steady run with everything plaintext and open, and with every hop
 * secured as the shipped configurations say (`startSecuredServers`: NATS with mutual TLS and a password, Redis TLS
 * with client certificates and an ACL user, PostgreSQL SSL verified against its CA, gRPC TLS on ingest and config,
 * a client token on every call). Rounds alternate, so both see the same machine; the ratio compares medians.
 */
import type { Event } from '@throughline/contracts';
import { runPipeline, type PipelineRow } from '../pipeline-run.js';
import type { Sizes } from '../sizes.js';

export interface SecurityReport {
  rounds: { plaintext: PipelineRow; secured: PipelineRow }[];
  /** Median secured throughput over median plaintext throughput. */
  ratio: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function runSecurity(
  sizes: Sizes,
  events: Event[],
  opts: { rounds?: number; onRow?: (row: PipelineRow) => void } = {},
): Promise<SecurityReport> {
  const run = async (label: string, secured: boolean) => {
    const row = await runPipeline(
      {
        label,
        env: { PIPELINE_MODE: 'optimized' },
        events: events.length,
        timeBoxMs: sizes.timeBoxMs * 3,
        instances: { enrich: 1, state: 2, writer: 2 },
        verify: true,
        secured,
      },
      events,
    );
    opts.onRow?.(row);
    return row;
  };
  const rounds: SecurityReport['rounds'] = [];
  for (let i = 0; i < (opts.rounds ?? 2); i++) {
    const plaintext = await run(`plaintext, round ${i + 1}`, false);
    const secured = await run(`every hop secured, round ${i + 1}`, true);
    rounds.push({ plaintext, secured });
  }
  return {
    rounds,
    ratio:
      median(rounds.map((r) => r.secured.eventsPerSecond)) /
      median(rounds.map((r) => r.plaintext.eventsPerSecond)),
  };
}
