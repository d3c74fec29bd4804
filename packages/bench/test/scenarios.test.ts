import { expect, it } from 'vitest';
import { ABLATION_STEPS, kneeOf, renderTables, runBench, SIZES } from '../src/index.js';

// The harness at its small size: every scenario runs and reports sane figures (speed is not checked).
it('ablation reports one row per lesson', async () => {
  const report = await runBench({ scenario: 'ablation', size: 'small' });
  expect(report.ablation!.map((r) => r.label)).toEqual(ABLATION_STEPS.map((s) => s.label));
  for (const row of report.ablation!) {
    // A naive row is time-boxed: it commits what it can, never more than it sent, and its rate is what it did.
    expect(row.committed).toBeGreaterThan(0);
    expect(row.committed).toBeLessThanOrEqual(row.sent);
    expect(row.eventsPerSecond).toBeCloseTo(row.committed / row.seconds, 0);
    expect(Object.keys(row.cpuSeconds)).toEqual(
      expect.arrayContaining(['ingest', 'enrich', 'state', 'writer', 'load']),
    );
    expect(row.cpuSecondsPer1k).toBeGreaterThan(0);
  }
  const [naive, , , , full] = report.ablation!;
  expect(full!.committed).toBe(full!.sent);
  // The lesson the ablation is about: the naive design makes external calls per event, the full design per batch.
  expect(naive!.externalCallsPerEvent).toBeGreaterThanOrEqual(1);
  expect(full!.externalCallsPerEvent).toBeLessThan(0.1);
  // The capacity run: every event committed, then the same design paced at half of the rate it reached.
  const { max, halfLoad } = report.capacity!;
  expect(max.committed).toBe(SIZES.small.capacityEvents);
  expect(halfLoad.committed).toBe(SIZES.small.halfLoadEvents);
  expect(halfLoad.offeredEventsPerSecond).toBe(Math.round(max.eventsPerSecond / 2));
  // Paced, requests of 1,000 leave on a schedule: the last one no earlier than (requests - 1) intervals in.
  const requests = Math.ceil(halfLoad.sent / 1000);
  expect(halfLoad.seconds).toBeGreaterThanOrEqual(((requests - 1) * 1000) / halfLoad.offeredEventsPerSecond!);
  expect(halfLoad.p99Ms).toBeGreaterThan(0);
});

it('sweep reports curves with a knee', async () => {
  const report = await runBench({ scenario: 'sweep', size: 'small' });
  expect(report.sweep!.map((c) => c.design)).toEqual(['naive', 'full']);
  const settings = { naive: SIZES.small.naiveConcurrency, full: SIZES.small.turnMessages };
  for (const curve of report.sweep!) {
    expect(curve.points.map((p) => p.setting)).toEqual(settings[curve.design]);
    // The knee is the smallest setting within 5% of the best throughput of the curve's own points.
    expect(curve.knee).toBe(
      kneeOf(curve.points.map((p) => ({ setting: p.setting, eventsPerSecond: p.row.eventsPerSecond }))),
    );
    expect(settings[curve.design]).toContain(curve.knee);
  }
});

it('floor moves every event over three hops and commits all of them', async () => {
  const report = await runBench({ scenario: 'floor', size: 'small' });
  expect(report.floor!.events).toBe(SIZES.small.floorEvents);
  expect(report.floor!.committed).toBe(SIZES.small.floorEvents);
  expect(report.floor!.eventsPerSecond).toBeGreaterThan(0);
});

it('peer commits the workload through BullMQ', async () => {
  const report = await runBench({ scenario: 'peer', size: 'small' });
  expect(report.peer!.committed).toBe(SIZES.small.peerEvents);
});

it('footprint measures what Redis holds per account and per applied event id', async () => {
  const report = await runBench({ scenario: 'footprint', size: 'small' });
  const f = report.footprint!;
  expect(f.accounts).toBe(SIZES.small.footprint.accounts);
  // An account is a key of ~25 bytes and a value of ~50; an id 36 characters in a set: tens to hundreds of bytes.
  expect(f.bytesPerAccount).toBeGreaterThan(50);
  expect(f.bytesPerAccount).toBeLessThan(500);
  expect(f.bytesPerEventId).toBeGreaterThan(36);
  expect(f.bytesPerEventId).toBeLessThan(300);
  expect(f.per100kAccountsMiB).toBeCloseTo((f.bytesPerAccount * 100_000) / 2 ** 20, 6);
  expect(renderTables(report)).toMatch(/Redis footprint: \d+ bytes per account/);
});

it('scaling scales every stage mid-run, moves partitions cooperatively, and loses nothing', async () => {
  const report = await runBench({ scenario: 'scaling', size: 'small' });
  const { rounds } = report.scaling!;
  expect(rounds).toHaveLength(2);
  for (const row of rounds.flatMap((r) => [r.steady, r.scaling])) {
    expect(row.committed).toBe(SIZES.small.scalingEvents);
    expect(row.verified).toBe(true);
  }
  for (const { scaling } of rounds) {
    const h = scaling.handovers!;
    // Every partition taken at start, then the partitions each step moved, handed over without waiting for expiry.
    expect(h.acquisitions).toBeGreaterThan(3 * 8);
    expect(h.cooperative).toBeGreaterThan(0);
    expect(h.pauseMaxMs).toBeLessThan(5_000);
  }
  const medianOf = (xs: number[]) => {
    const [a, b] = [...xs].sort((x, y) => x - y);
    return (a! + b!) / 2;
  };
  expect(report.scaling!.ratio).toBeCloseTo(
    medianOf(rounds.map((r) => r.scaling.eventsPerSecond)) /
      medianOf(rounds.map((r) => r.steady.eventsPerSecond)),
    6,
  );
  expect(renderTables(report)).toMatch(
    /while scaling: \d+\.\d% of steady throughput \(median of 2 alternating rounds\)/,
  );
  expect(renderTables(report)).toMatch(/round 2: \d+ partitions moved cooperatively/);
  // The pauses of both rounds taken together.
  const { pauses } = report.scaling!;
  expect(pauses.count).toBe(
    rounds[0]!.scaling.handovers!.cooperative + rounds[1]!.scaling.handovers!.cooperative,
  );
  expect(pauses.maxMs).toBe(Math.max(...rounds.map((r) => r.scaling.handovers!.pauseMaxMs)));
  expect(renderTables(report)).toMatch(
    /\d+ partitions moved cooperatively in all, pause p50 \d+ ms, p99 [\d,]+ ms/,
  );
  expect(rounds[0]!.scaling.handovers!.slowest?.service).toMatch(/^(enrich|state|writer)(-\d+)?$/);
  // The same steps under a paced load: everything committed, partitions moved, and where the slowest pause went.
  const { paced } = report.scaling!;
  expect(paced.row.offeredEventsPerSecond).toBe(SIZES.small.scalingPaced.perSecond);
  expect(paced.row.committed).toBe(SIZES.small.scalingPaced.events);
  expect(paced.row.verified).toBe(true);
  expect(paced.pauses.count).toBe(paced.row.handovers!.cooperative);
  expect(paced.pauses.count).toBeGreaterThan(0);
  expect(paced.row.handovers!.slowest?.storedAfterMs).toEqual(expect.any(Number));
  expect(renderTables(report)).toMatch(
    /paced at 4,000 events\/s, while scaling: [\d,]+ events\/s, p99 latency [\d,]+ ms; \d+ partitions moved cooperatively/,
  );
});

it('startup measures what an added instance of each stage costs to start, tracing off and on', async () => {
  const report = await runBench({ scenario: 'startup', size: 'small' });
  const { samples, medians } = report.startup!;
  expect(samples).toHaveLength(2 * 3 * SIZES.small.startupStarts);
  expect(medians.every((m) => m.build === 'this')).toBe(true);
  expect(medians.map((m) => `${m.app}/${m.tracing}`)).toEqual([
    'enrich/false',
    'state/false',
    'writer/false',
    'enrich/true',
    'state/true',
    'writer/true',
  ]);
  for (const s of samples) {
    // A Node.js process loads its modules and connects before it is ready: tenths of a CPU-second at least.
    expect(s.cpuSeconds).toBeGreaterThan(0.1);
    expect(s.readyMs).toBeGreaterThan(0);
  }
  expect(renderTables(report)).toMatch(/^this\s+state\s+off\s+\d+\.\d\d\s+[\d,]+\s+1$/m);
});

it('the knee is the smallest setting within 5% of the best', () => {
  const curve = (pairs: [number, number][]) =>
    pairs.map(([setting, eventsPerSecond]) => ({ setting, eventsPerSecond }));
  expect(
    kneeOf(
      curve([
        [4, 100],
        [1, 50],
        [2, 96],
      ]),
    ),
  ).toBe(2);
  expect(
    kneeOf(
      curve([
        [1, 50],
        [2, 94],
        [4, 100],
      ]),
    ),
  ).toBe(4);
  expect(kneeOf([])).toBeUndefined();
});
