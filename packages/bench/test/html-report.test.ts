import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { expect, it } from 'vitest';
import { kneeOf, renderHtml, type BenchReport, type PipelineRow } from '../src/index.js';

const CHROMIUM = '/usr/bin/chromium';

function row(label: string, eventsPerSecond: number): PipelineRow {
  return {
    label,
    env: {},
    sent: 1000,
    committed: 1000,
    seconds: 1000 / eventsPerSecond,
    eventsPerSecond,
    p50Ms: 10,
    p99Ms: 40,
    warmupMs: 0,
    p99WithWarmupMs: 40,
    cpuSecondsPer1k: 0.5,
    cpuSeconds: {},
    externalCallsPerEvent: 2,
    split: { queueMs: 1, dependencyMs: 2, computeMs: 0.5 },
    stages: Object.fromEntries(
      ['enrich', 'state', 'writer'].map((stage, i) => [
        stage,
        { events: 1000, externalCalls: 1000, queueMs: 500 * (i + 1), dependencyMs: 800, computeMs: 300 },
      ]),
    ),
    timedOut: false,
  };
}

const report: BenchReport = {
  startedAt: '2026-01-01T00:00:00Z',
  size: 'small',
  machine: { cpus: 2, model: 'test', node: 'v20' },
  command: 'bench all </script><b>',
  ablation: [row('naive', 1000), row('+ batching', 20_000), row('full', 40_000)],
  capacity: {
    max: row('full design, 1,000,000 events (maximum)', 48_000),
    halfLoad: { ...row('full design at half that', 24_000), offeredEventsPerSecond: 24_000 },
  },
  sweep: (['naive', 'full'] as const).map((design) => ({
    name: design,
    design,
    latency: '',
    settingName: 'concurrency',
    points: [1, 10, 100].map((setting, i) => ({ setting, row: row(`${setting}`, [500, 3000, 3100][i]!) })),
    knee: 10,
    best: 3100,
  })),
};

it('finds the knee: the smallest setting within 5% of the best', () => {
  const points = [1, 10, 50, 100].map((setting, i) => ({
    setting,
    eventsPerSecond: [900, 2900, 3050, 3000][i]!,
  }));
  expect(kneeOf(points)).toBe(10);
});

it('the HTML page renders its charts in headless Chromium without console errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-html-'));
  const file = join(dir, 'report.html');
  writeFileSync(file, renderHtml(report));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`);
    await page.waitForSelector('body[data-rendered="true"]', { timeout: 10_000 });
    // Run in the page (as a string: this package is typed without the DOM library): painted pixels per canvas.
    const painted = await page.evaluate<
      { id: string; nonEmpty: number }[]
    >(`[...document.querySelectorAll('canvas')].map((c) => {
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let nonEmpty = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) nonEmpty++;
      return { id: c.id, nonEmpty };
    })`);
    expect(painted.map((c) => c.id)).toEqual(['ablation', 'split', 'sweep-naive', 'sweep-full']);
    for (const c of painted) expect(c.nonEmpty, c.id).toBeGreaterThan(100);
    expect(errors).toEqual([]);
    // The tables under the charts carry the capacity rows too.
    expect(await page.textContent('pre')).toContain('full design at half that');
  } finally {
    await browser.close();
  }
});
