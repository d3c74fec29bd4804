import type { PipelineRow } from '../pipeline-run.js';
import type { FloorRow } from '../scenarios/floor.js';
import type { FootprintReport } from '../scenarios/footprint.js';
import type { StartupReport } from '../scenarios/startup.js';
import type { Capacity } from '../scenarios/ablation.js';
import type { PeerRow } from '../scenarios/peer.js';
import type { ScalingReport } from '../scenarios/scaling.js';
import type { ReplicationReport } from '../scenarios/replication.js';
import type { SoakReport } from '../scenarios/soak.js';
import type { SecurityReport } from '../scenarios/security.js';
import type { SweepCurve } from '../scenarios/sweep.js';

/** Everything one benchmark invocation measured; the JSON file is this object. */
export interface BenchReport {
  startedAt: string;
  size: string;
  machine: { cpus: number; model: string; node: string };
  command: string;
  ablation?: PipelineRow[];
  /** The full design's maximum on a long run and its latency at half of it (run with the ablation). */
  capacity?: Capacity;
  sweep?: SweepCurve[];
  floor?: FloorRow;
  peer?: PeerRow;
  scaling?: ScalingReport;
  /** The same steady run plaintext and with every hop secured, alternating. */
  security?: SecurityReport;
  /** The same steady run on one NATS server with one copy of each stream and on a 3-node cluster with three. */
  replication?: ReplicationReport;
  soak?: SoakReport;
  /** What the state stage keeps in Redis, per account and per claimed event id. */
  footprint?: FootprintReport;
  /** What an instance of each stage costs to start, with tracing off and on. */
  startup?: StartupReport;
}
