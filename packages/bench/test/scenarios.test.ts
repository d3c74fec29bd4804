import { expect, it } from 'vitest';
import { runBench, SIZES } from '../src/index.js';

// The harness at its small size: every scenario runs and reports sane figures (speed is not checked).
it('ablation reports one row per lesson', async () => {
  const report = await runBench({ scenario: 'ablation', size: 'small' });
  expect(report.ablation).toHaveLength(5);
  for (const row of report.ablation!) {
    expect(row.committed).toBeGreaterThan(0);
    expect(row.eventsPerSecond).toBeGreaterThan(0);
    expect(row.cpuSecondsPer1k).toBeGreaterThan(0);
  }
  const full = report.ablation![4]!;
  expect(full.committed).toBe(full.sent);
});

it('sweep reports curves with a knee', async () => {
  const report = await runBench({ scenario: 'sweep', size: 'small' });
  expect(report.sweep!.map((c) => c.design)).toEqual(['naive', 'full']);
  for (const curve of report.sweep!) {
    expect(curve.points.length).toBeGreaterThan(0);
    expect(curve.knee).toBeDefined();
  }
});

it('floor moves every event over three hops into PostgreSQL', async () => {
  const report = await runBench({ scenario: 'floor', size: 'small' });
  expect(report.floor!.events).toBe(SIZES.small.floorEvents);
  expect(report.floor!.eventsPerSecond).toBeGreaterThan(0);
});

it('peer commits the workload through BullMQ', async () => {
  const report = await runBench({ scenario: 'peer', size: 'small' });
  expect(report.peer!.committed).toBe(SIZES.small.peerEvents);
});
