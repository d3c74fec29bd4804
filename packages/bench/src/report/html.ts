/**
 * The HTML form of a report: one self-contained page (Chart.js's UMD build inlined, the data embedded as JSON)
 * with the ablation bars, the sweep curves with their knees marked, and the time split per row.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { renderTables } from './table.js';
import type { BenchReport } from './types.js';

const require = createRequire(import.meta.url);

function chartJsSource(): string {
  // The package exports only its ES and CJS entries; the UMD build sits beside them in dist/.
  return readFileSync(join(dirname(require.resolve('chart.js')), 'chart.umd.min.js'), 'utf8');
}

/** Makes text safe inside a <script> element. */
function scriptSafe(text: string): string {
  return text.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

const PAGE_SCRIPT = `
const report = JSON.parse(document.getElementById('report-data').textContent);
const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];
function chart(id, config) {
  const canvas = document.getElementById(id);
  if (canvas) new Chart(canvas, { ...config, options: { animation: false, responsive: true, ...config.options } });
}
if (report.ablation) {
  const labels = report.ablation.map((r) => r.label);
  chart('ablation', { type: 'bar', data: { labels, datasets: [
    { label: 'events/s', data: report.ablation.map((r) => r.eventsPerSecond), backgroundColor: palette[0] }] },
    options: { plugins: { title: { display: true, text: 'Ablation: events/s, lesson by lesson' } } } });
  // Per stage, stacked to 100%: each row has one column per stage (enrich, state, writer) split into the shares of
  // its time spent waiting in the queue, waiting on dependencies, and computing (the ms per event are in the tables).
  const stages = ['enrich', 'state', 'writer'];
  const parts = [['queueMs', 'queue wait', 7], ['dependencyMs', 'dependency wait', 1], ['computeMs', 'compute', 2]];
  const share = (r, stage, key) => {
    const s = r.stages[stage];
    const total = s ? s.queueMs + s.dependencyMs + s.computeMs : 0;
    return total > 0 ? (100 * s[key]) / total : 0;
  };
  const datasets = [];
  stages.forEach((stage) => parts.forEach(([key, name, color]) => datasets.push({
    label: name, stack: stage, data: report.ablation.map((r) => share(r, stage, key)),
    backgroundColor: palette[color], borderColor: '#fff', borderWidth: 1 })));
  chart('split', { type: 'bar', data: { labels, datasets },
    options: { scales: { x: { stacked: true }, y: { stacked: true, max: 100, title: { display: true, text: '% of each stage’s time (columns: enrich, state, writer)' } } },
      plugins: { legend: { labels: { filter: (item) => item.datasetIndex < parts.length } },
        tooltip: { callbacks: { label: (c) => c.dataset.stack + ': ' + c.dataset.label + ' ' + c.parsed.y.toFixed(1) + '%' } },
        title: { display: true, text: 'Where the time goes, per stage: queue wait / dependency wait / compute' } } } });
}
if (report.sweep && report.sweep.length > 0) {
  for (const [i, design] of ['naive', 'full'].entries()) {
    const curves = report.sweep.filter((c) => c.design === design);
    if (curves.length === 0) continue;
    const datasets = [];
    curves.forEach((c, j) => {
      datasets.push({ label: c.name, data: c.points.map((p) => ({ x: p.setting, y: p.row.eventsPerSecond })),
        borderColor: palette[j * 2], backgroundColor: palette[j * 2], showLine: true });
      const knee = c.points.find((p) => p.setting === c.knee);
      if (knee) datasets.push({ label: 'knee: ' + c.name, data: [{ x: knee.setting, y: knee.row.eventsPerSecond }],
        pointStyle: 'triangle', pointRadius: 10, borderColor: palette[3], backgroundColor: palette[3] });
    });
    chart('sweep-' + design, { type: 'scatter', data: { datasets }, options: {
      scales: { x: { type: curves[0].points.length > 2 ? 'logarithmic' : 'linear', title: { display: true, text: curves[0].settingName } },
                y: { title: { display: true, text: 'events/s' } } },
      plugins: { title: { display: true, text: 'Sweep (' + design + '): throughput against concurrency, knee marked' } } } });
  }
}
document.body.dataset.rendered = 'true';
`;

export function renderHtml(report: BenchReport): string {
  const canvases = [
    report.ablation ? '<canvas id="ablation"></canvas><canvas id="split"></canvas>' : '',
    report.sweep?.some((c) => c.design === 'naive') ? '<canvas id="sweep-naive"></canvas>' : '',
    report.sweep?.some((c) => c.design === 'full') ? '<canvas id="sweep-full"></canvas>' : '',
  ].join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>throughline benchmark</title>
<style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}canvas{margin:1.5em 0}pre{background:#f4f4f4;padding:1em;overflow:auto;font-size:12px}</style>
</head><body>
<h1>throughline benchmark</h1>
<p>${escapeHtml(report.startedAt)} · size ${escapeHtml(report.size)} · ${report.machine.cpus} CPUs (${escapeHtml(report.machine.model)}) · Node ${escapeHtml(report.machine.node)}</p>
<p><code>${escapeHtml(report.command)}</code></p>
${canvases}
<h2>Tables</h2>
<pre>${escapeHtml(renderTables(report))}</pre>
<script id="report-data" type="application/json">${scriptSafe(JSON.stringify(report))}</script>
<script>${scriptSafe(chartJsSource())}</script>
<script>${scriptSafe(PAGE_SCRIPT)}</script>
</body></html>
`;
}
