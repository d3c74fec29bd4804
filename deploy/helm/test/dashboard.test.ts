/**
 * The Grafana dashboard: every query is valid PromQL once Grafana's variables are filled in (checked by promtool,
 * as recording rules), every panel reads through the dashboard's data source variable, and the chart ships the
 * file as a ConfigMap for Grafana's sidecar when asked. That each query names series the services export, and
 * returns data, is checked against a live Prometheus in packages/e2e/test/prometheus.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { chartDir, helmTemplate } from './helm.js';

const DASHBOARD_FILE = path.join(chartDir, 'files/dashboard.json');

interface Target {
  expr: string;
  refId: string;
  datasource: { uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: Target[];
  gridPos: { x: number; y: number; w: number; h: number };
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
const graphs = dashboard.panels.filter((p) => p.type !== 'row');
const targets = graphs.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

/** A query as Grafana sends it: the variables replaced by what they stand for with every stage selected. */
function expandGrafanaVariables(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$stage', '.*');
}

describe('Grafana dashboard', () => {
  it('has a query in every panel, each reading through the data source variable', () => {
    expect(graphs.length).toBeGreaterThanOrEqual(12);
    expect(graphs.filter((p) => (p.targets ?? []).length === 0).map((p) => p.title)).toEqual([]);
    expect(graphs.filter((p) => p.datasource?.uid !== '${datasource}').map((p) => p.title)).toEqual([]);
    expect(targets.filter((t) => t.datasource.uid !== '${datasource}').map((t) => t.panel)).toEqual([]);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'stage']);
  });

  it('filters every per-stage query by the stage variable', () => {
    const perStage = targets.filter((t) => t.expr.includes('tl_stage'));
    expect(perStage.length).toBeGreaterThanOrEqual(12);
    // Each metric selector of a per-stage query carries the filter (ingest's own series have no stage).
    const unfiltered = perStage.filter((t) =>
      [
        ...t.expr
          .replace(/\b(by|on|without|ignoring) \([^)]*\)/g, '')
          .matchAll(/\b(tl_[a-z_]+)(\{[^}]*\})?/g),
      ].some(([, , selector]) => !(selector ?? '').includes('tl_stage=~"$stage"')),
    );
    expect(unfiltered.map((t) => `${t.panel}: ${t.expr}`)).toEqual([]);
  });

  it('holds valid PromQL only (promtool checks every query as a recording rule)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'throughline-dashboard-'));
    try {
      const file = path.join(dir, 'queries.yaml');
      writeFileSync(
        file,
        stringify({
          groups: [
            {
              name: 'dashboard',
              rules: targets.map((t, i) => ({
                record: `dashboard:q${i}`,
                expr: expandGrafanaVariables(t.expr),
              })),
            },
          ],
        }),
      );
      const run = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
      if (run.error !== undefined)
        throw new Error(
          `promtool is not installed (${run.error.message}): install Debian's prometheus package (apt-get install prometheus), which brings it`,
        );
      expect(`${run.stdout}${run.stderr}`).toMatch(new RegExp(`SUCCESS: ${targets.length} rules found`));
      expect(run.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ships in the chart as a ConfigMap for the Grafana sidecar, when asked for', () => {
    const plain = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    expect(plain.objects.some((o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard'))).toBe(
      false,
    );
    const rendered = helmTemplate({ valueFiles: ['ci/scaled-values.yaml'] });
    const map = rendered.objects.find(
      (o) => o.kind === 'ConfigMap' && o.metadata.name.endsWith('-dashboard'),
    )!;
    expect(map.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    expect(map.metadata.annotations).toEqual({ grafana_folder: 'throughline' });
    const data = (map as unknown as { data: Record<string, string> }).data;
    expect(Object.keys(data)).toEqual(['throughline.json']);
    expect(JSON.parse(data['throughline.json']!)).toEqual(dashboard);
  });
});
