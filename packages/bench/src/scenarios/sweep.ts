/**
 * Sweep: throughput, p99 and CPU against concurrency — events in flight per stage for the naive design, bus
 * messages per turn for the full design — with and without injected dependency latency. The knee is the smallest
 * setting within 5% of the curve's best throughput.
 */
import type { Event } from '@throughline/contracts';
import { runPipeline, type PipelineRow } from '../pipeline-run.js';
import { INJECTED_LATENCY, type Sizes } from '../sizes.js';

export interface SweepPoint {
  setting: number;
  row: PipelineRow;
}

export interface SweepCurve {
  name: string;
  design: 'naive' | 'full';
  latency: string;
  /** What `setting` means on this curve. */
  settingName: string;
  points: SweepPoint[];
  knee: number | undefined;
  best: number | undefined;
}

/** The smallest setting whose throughput is within 5% of the best. */
export function kneeOf(points: readonly { setting: number; eventsPerSecond: number }[]): number | undefined {
  const best = Math.max(...points.map((p) => p.eventsPerSecond));
  const sorted = [...points].sort((a, b) => a.setting - b.setting);
  return sorted.find((p) => p.eventsPerSecond >= 0.95 * best)?.setting;
}

export async function runSweep(
  sizes: Sizes,
  events: Event[],
  opts: { onRow?: (row: PipelineRow) => void } = {},
): Promise<SweepCurve[]> {
  const latencies = sizes.withLatency ? ['', INJECTED_LATENCY] : [''];
  const curves: SweepCurve[] = [];
  for (const latency of latencies) {
    for (const design of ['naive', 'full'] as const) {
      const settings = design === 'naive' ? sizes.naiveConcurrency : sizes.turnMessages;
      const points: SweepPoint[] = [];
      for (const setting of settings) {
        const env: Record<string, string> =
          design === 'naive'
            ? { PIPELINE_MODE: 'naive', NAIVE_CONCURRENCY: String(setting) }
            : {
                PIPELINE_MODE: 'optimized',
                ENRICH_MAX_TURN_MESSAGES: String(setting),
                STATE_MAX_TURN_MESSAGES: String(setting),
                WRITER_MAX_TURN_MESSAGES: String(setting),
              };
        if (latency !== '') env.INJECT_LATENCY = latency;
        const label = `${design} ${design === 'naive' ? 'concurrency' : 'turn'} ${setting}${latency ? ' +latency' : ''}`;
        const row = await runPipeline(
          {
            label,
            env,
            events: events.length,
            timeBoxMs: design === 'naive' ? sizes.naiveSweepTimeBoxMs : sizes.timeBoxMs,
          },
          events,
        );
        points.push({ setting, row });
        opts.onRow?.(row);
      }
      const flat = points.map((p) => ({ setting: p.setting, eventsPerSecond: p.row.eventsPerSecond }));
      curves.push({
        name: `${design}${latency ? ` (${latency})` : ''}`,
        design,
        latency,
        settingName: design === 'naive' ? 'events in flight per stage' : 'bus messages per turn',
        points,
        knee: kneeOf(flat),
        best: Math.max(...flat.map((p) => p.eventsPerSecond)),
      });
    }
  }
  return curves;
}
