import type { PipelineRow } from '../pipeline-run.js';
import type { FloorRow } from '../scenarios/floor.js';
import type { PeerRow } from '../scenarios/peer.js';
import type { SweepCurve } from '../scenarios/sweep.js';

/** Everything one benchmark invocation measured; the JSON file is this object. */
export interface BenchReport {
  startedAt: string;
  size: string;
  machine: { cpus: number; model: string; node: string };
  command: string;
  ablation?: PipelineRow[];
  sweep?: SweepCurve[];
  floor?: FloorRow;
  peer?: PeerRow;
}
