/**
 * Scaling: what partition leases and fencing cost, and what a scale event costs.
 *
 * - Steady and scaling: the same events as fast as the pipeline takes them, on the same starting topology (state
 *   and writer with two instances each), untouched and while instances of every stage are added and removed, in
 *   alternating rounds (steady, scaling, steady, scaling: a shared machine's drift falls on both alike); the
 *   median scaling run's throughput against the median steady one, and the pause of each partition that moved.
 * - Paced: the same scale steps once more under a load the pipeline keeps up with (`sizes.scalingPaced`, 10,000
 *   events/s by default): the pause of a moved partition when the machine is not saturated (in the runs above
 *   every process competes for two cores, and a just-started instance with them).
 * - With a baseline (`--baseline <checkout>`, another checkout of throughline built with `pnpm build`, for example
 *   one from before leases): the steady run of that build and of this one, alternating, side by side.
 */
import type { Event } from '@throughline/contracts';
import type { StageApp } from '@throughline/stack';
import { pausesOf, runPipeline, type PipelineRow } from '../pipeline-run.js';
import type { PipelineStack } from '../stack.js';
import type { Sizes } from '../sizes.js';
import { median } from './side-by-side.js';

export interface ScalingReport {
  /** Alternating rounds of this build: no scale event, then the same events while the stages scale (`steps`). */
  rounds: { steady: PipelineRow; scaling: PipelineRow }[];
  /** The scale steps, at which share of the events sent. */
  steps: { atShare: number; app: StageApp; instances: number }[];
  /** The median scaling run's events/s over the median steady run's. */
  ratio: number;
  /** The pauses of the partitions moved cooperatively in every scaling run, taken together. */
  pauses: ReturnType<typeof pausesOf>;
  /** The scale steps under a paced load, and the pauses of the partitions moved in it. */
  paced: { row: PipelineRow; pauses: ReturnType<typeof pausesOf> };
  /** With a baseline: rounds of this build and the baseline, alternating, the same steady run. */
  baseline?: { root: string; rounds: { current: PipelineRow; baseline: PipelineRow }[]; ratio: number };
}

/** Every stage grows and shrinks: state 2→3→4→2, writer 2→3→1, enrich 1→2. */
export const SCALE_STEPS: ScalingReport['steps'] = [
  { atShare: 0.15, app: 'state', instances: 3 },
  { atShare: 0.25, app: 'writer', instances: 3 },
  { atShare: 0.35, app: 'enrich', instances: 2 },
  { atShare: 0.45, app: 'state', instances: 4 },
  { atShare: 0.6, app: 'writer', instances: 1 },
  { atShare: 0.7, app: 'state', instances: 2 },
];

const START = { enrich: 1, state: 2, writer: 2 } as const;
/**
 * The baseline comparison runs one instance of each stage: a build from before leases assigns partitions by
 * INSTANCE_INDEX/INSTANCE_COUNT, which the launcher no longer sets, so one instance (owning every partition) is
 * the topology both builds run alike.
 */
const SINGLE = { enrich: 1, state: 1, writer: 1 } as const;

/** Runs the scale steps as the load's sent count passes each share, one after another. */
function scaleDuring(total: number) {
  return async (stack: PipelineStack, sent: () => number): Promise<void> => {
    for (const step of SCALE_STEPS) {
      while (sent() < step.atShare * total) await new Promise((r) => setTimeout(r, 20));
      await stack.scale(step.app, step.instances);
    }
  };
}

export async function runScaling(
  sizes: Sizes,
  events: Event[],
  opts: {
    baselineRoot?: string;
    /** Rounds of steady and scaling runs, and of the baseline comparison. Default 2. */
    rounds?: number;
    onRow?: (row: PipelineRow) => void;
  } = {},
): Promise<ScalingReport> {
  const run = async (
    label: string,
    extra: Partial<Parameters<typeof runPipeline>[0]>,
    runEvents: Event[] = events,
  ) => {
    const row = await runPipeline(
      {
        label,
        env: { PIPELINE_MODE: 'optimized' },
        events: events.length,
        timeBoxMs: sizes.timeBoxMs * 3,
        instances: START,
        verify: true,
        ...extra,
      },
      runEvents,
    );
    opts.onRow?.(row);
    return row;
  };
  const roundCount = opts.rounds ?? 2;
  const scalingRounds: ScalingReport['rounds'] = [];
  for (let i = 0; i < roundCount; i++) {
    const steady = await run(`steady (state 2, writer 2, enrich 1), round ${i + 1}`, {});
    const scaling = await run(`while scaling every stage, round ${i + 1}`, {
      during: scaleDuring(events.length),
    });
    scalingRounds.push({ steady, scaling });
  }
  const pacedEvents = events.slice(0, sizes.scalingPaced.events);
  const pacedRow = await run(
    `while scaling every stage, paced at ${sizes.scalingPaced.perSecond.toLocaleString('en-US')} events/s`,
    {
      events: pacedEvents.length,
      paceEventsPerSecond: sizes.scalingPaced.perSecond,
      during: scaleDuring(pacedEvents.length),
    },
    pacedEvents,
  );
  const report: ScalingReport = {
    rounds: scalingRounds,
    paced: { row: pacedRow, pauses: pausesOf([pacedRow.handovers]) },
    steps: SCALE_STEPS,
    ratio:
      median(scalingRounds.map((r) => r.scaling.eventsPerSecond)) /
      median(scalingRounds.map((r) => r.steady.eventsPerSecond)),
    pauses: pausesOf(scalingRounds.map((r) => r.scaling.handovers)),
  };
  if (opts.baselineRoot !== undefined) {
    const rounds: { current: PipelineRow; baseline: PipelineRow }[] = [];
    for (let i = 0; i < roundCount; i++) {
      const baseline = await run(`baseline build, round ${i + 1}`, {
        appsRoot: opts.baselineRoot,
        instances: SINGLE,
      });
      const current = await run(`this build, round ${i + 1}`, { instances: SINGLE });
      rounds.push({ current, baseline });
    }
    report.baseline = {
      root: opts.baselineRoot,
      rounds,
      ratio:
        median(rounds.map((r) => r.current.eventsPerSecond)) /
        median(rounds.map((r) => r.baseline.eventsPerSecond)),
    };
  }
  return report;
}
