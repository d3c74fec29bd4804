/**
 * @throughline/bench — the benchmarks that reproduce the article's lessons against the naive design, the raw
 * components and a BullMQ peer, and their reports (terminal tables, JSON, a self-contained HTML page).
 *
 * ```ts
 * const report = await runBench({ scenario: 'ablation', size: 'small' });
 * process.stdout.write(renderTables(report));
 * writeReport(report, 'bench-results');
 * ```
 */
export { runBench, writeReport, SCENARIOS, type Scenario, type RunBenchOptions } from './bench.js';
export { renderTables } from './report/table.js';
export { renderHtml } from './report/html.js';
export type { BenchReport } from './report/types.js';
export { kneeOf, type SweepCurve, type SweepPoint } from './scenarios/sweep.js';
export { ABLATION_STEPS } from './scenarios/ablation.js';
export type { PipelineRow } from './pipeline-run.js';
export type { FloorRow } from './scenarios/floor.js';
export type { PeerRow } from './scenarios/peer.js';
export { SCALE_STEPS, type ScalingReport } from './scenarios/scaling.js';
export { SIZES, INJECTED_LATENCY, type Size, type Sizes } from './sizes.js';
export { runSecurity, type SecurityReport } from './scenarios/security.js';
export { runReplication, type ReplicationReport } from './scenarios/replication.js';
export {
  runSoak,
  SOAK_FAULTS,
  type SoakFault,
  type SoakFaultName,
  type SoakReport,
} from './scenarios/soak.js';
export { startReplicatedServers } from './stack.js';
export { startSecuredServers, type Security } from './secured.js';
export { workload } from './pipeline-run.js';
