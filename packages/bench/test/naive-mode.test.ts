import { expect, it } from 'vitest';
import { runPipeline, workload } from '../src/pipeline-run.js';

// Correctness, not speed: the naive design and an intermediate ablation step commit every event once, in order.
it.each([
  ['naive', { PIPELINE_MODE: 'naive', NAIVE_CONCURRENCY: '20' }],
  [
    'naive + snapshot,cache',
    { PIPELINE_MODE: 'naive', PIPELINE_FEATURES: 'snapshot,cache', NAIVE_CONCURRENCY: '20' },
  ],
])('%s commits every event and keeps the ledger invariants', async (label, env) => {
  const events = workload(600);
  const row = await runPipeline(
    { label, env, events: events.length, timeBoxMs: 50_000, verify: true },
    events,
  );
  expect(row.timedOut).toBe(false);
  expect(row.committed).toBe(events.length);
  expect(row.verified).toBe(true);
  expect(row.externalCallsPerEvent).toBeGreaterThan(1);
});
