import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { PipelineRow } from './pipeline-run.js';
import { workload } from './pipeline-run.js';
import { renderHtml } from './report/html.js';

import type { BenchReport } from './report/types.js';
import { runAblation, runCapacity } from './scenarios/ablation.js';
import { runFloor } from './scenarios/floor.js';
import { runFootprint } from './scenarios/footprint.js';
import { runStartup } from './scenarios/startup.js';
import { runPeer } from './scenarios/peer.js';
import { runScaling } from './scenarios/scaling.js';
import { runReplication } from './scenarios/replication.js';
import { runSecurity } from './scenarios/security.js';
import { runSoak } from './scenarios/soak.js';
import { runSweep } from './scenarios/sweep.js';
import { SIZES, type Size } from './sizes.js';

export const SCENARIOS = [
  'ablation',
  'sweep',
  'floor',
  'peer',
  'scaling',
  'security',
  'replication',
  'footprint',
  'startup',
  'soak',
  'all',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface RunBenchOptions {
  scenario: Scenario;
  /** Default 'default'. */
  size?: Size;
  /** How the run was invoked, recorded in the report. */
  command?: string;
  /** Check the ledger invariants after each ablation row. Default false. */
  verify?: boolean;
  /** Called with a line of progress (a finished row). */
  progress?: (line: string) => void;
  /**
   * With the scaling and startup scenarios: another checkout of throughline, built (`pnpm build`), to run side by
   * side with this build (for example one from before partition leases and fencing).
   */
  baselineRoot?: string;
}

export async function runBench(opts: RunBenchOptions): Promise<BenchReport> {
  const size = opts.size ?? 'default';
  const sizes = SIZES[size];
  const cpu = cpus();
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    size,
    machine: { cpus: cpu.length, model: cpu[0]?.model ?? 'unknown', node: process.version },
    command: opts.command ?? `pnpm --filter @throughline/bench bench ${opts.scenario} --size ${size}`,
  };
  const onRow = (row: PipelineRow) =>
    opts.progress?.(
      `${row.label}: ${Math.round(row.eventsPerSecond)} events/s, p99 ${Math.round(row.p99Ms)} ms, ${row.committed}/${row.sent} committed`,
    );
  const all = opts.scenario === 'all';
  if (all || opts.scenario === 'ablation') {
    report.ablation = await runAblation(sizes, workload(sizes.events), {
      onRow,
      verify: opts.verify ?? false,
    });
    report.capacity = await runCapacity(sizes, { onRow, verify: opts.verify ?? false });
  }
  if (all || opts.scenario === 'sweep')
    report.sweep = await runSweep(sizes, workload(sizes.events), { onRow });
  if (all || opts.scenario === 'floor') {
    report.floor = await runFloor(workload(sizes.floorEvents));
    opts.progress?.(`floor: ${Math.round(report.floor.eventsPerSecond)} events/s`);
  }
  if (all || opts.scenario === 'scaling') {
    report.scaling = await runScaling(sizes, workload(sizes.scalingEvents), {
      onRow,
      ...(opts.baselineRoot === undefined ? {} : { baselineRoot: opts.baselineRoot }),
    });
  }
  if (all || opts.scenario === 'security') {
    report.security = await runSecurity(sizes, workload(sizes.securityEvents), { onRow });
    opts.progress?.(
      `security: every hop secured at ${(100 * report.security.ratio).toFixed(1)}% of plaintext`,
    );
  }
  if (all || opts.scenario === 'replication') {
    report.replication = await runReplication(sizes, workload(sizes.replicationEvents), { onRow });
    opts.progress?.(
      `replication: three copies on a 3-node cluster at ${(100 * report.replication.ratio).toFixed(1)}% of one copy on one server`,
    );
  }
  if (all || opts.scenario === 'peer') {
    report.peer = await runPeer(workload(sizes.peerEvents), {
      concurrency: 50,
      timeBoxMs: sizes.peerTimeBoxMs,
    });
    opts.progress?.(`peer: ${Math.round(report.peer.eventsPerSecond)} events/s`);
  }
  if (all || opts.scenario === 'footprint') {
    report.footprint = await runFootprint(sizes.footprint);
    opts.progress?.(`footprint: ${Math.round(report.footprint.bytesPerAccount)} bytes per account`);
  }
  if (all || opts.scenario === 'startup') {
    report.startup = await runStartup(sizes.startupStarts, opts.baselineRoot);
    for (const m of report.startup.medians)
      opts.progress?.(
        `startup: ${m.build} build, ${m.app}, tracing ${m.tracing ? 'on' : 'off'}: ${m.cpuSeconds.toFixed(2)} CPU-s, ready after ${Math.round(m.readyMs)} ms`,
      );
  }
  // Not part of `all`: it is a soak, minutes of faults, run on purpose.
  if (opts.scenario === 'soak') {
    report.soak = await runSoak(sizes, workload(sizes.soak.events), {
      onRow,
      onFault: (f) =>
        opts.progress?.(
          `soak: ${f.name}${f.target === undefined ? '' : ` (${f.target})`} at ${(f.atMs / 1000).toFixed(0)} s, ` +
            `lasted ${f.lastedMs} ms, going again ${f.recoveredMs === null ? 'never' : `after ${f.recoveredMs} ms`}`,
        ),
    });
    opts.progress?.(
      `soak: ${report.soak.row.committed}/${report.soak.row.sent} committed through ${report.soak.faults.length} faults, ` +
        `verified ${String(report.soak.row.verified)}, ${report.soak.deadLetters} dead letters: ${report.soak.ok ? 'OK' : 'FAILED'}`,
    );
  }
  return report;
}

/** Writes `<dir>/bench-<scenario>.json` and `.html`; returns their paths. */
export function writeReport(
  report: BenchReport,
  dir: string,
  name = 'bench',
): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${name}.json`);
  const html = join(dir, `${name}.html`);
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(html, renderHtml(report));
  return { json, html };
}
