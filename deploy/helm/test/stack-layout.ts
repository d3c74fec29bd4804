/**
 * throughline-stack laid out as `helm dependency build` would leave it, without the network that needs: the
 * throughline chart copied into charts/, and for each public chart a stand-in (its Chart.yaml at the lowest
 * version the range allows, no templates). Enough for Helm to render and lint this repository's side of it.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { chartDir, stackDir } from './helm.js';

export interface Dependency {
  name: string;
  version: string;
  repository: string;
  condition?: string;
}

export const stackDependencies = (
  parse(readFileSync(path.join(stackDir, 'Chart.yaml'), 'utf8')) as { dependencies: Dependency[] }
).dependencies;

/** Lays the stack out in a new temporary directory; returns the chart's directory there. */
export function layOutStack(): string {
  const chart = path.join(mkdtempSync(path.join(os.tmpdir(), 'tl-stack-')), 'throughline-stack');
  cpSync(stackDir, chart, { recursive: true });
  cpSync(chartDir, path.join(chart, 'charts/throughline'), { recursive: true });
  for (const d of stackDependencies.filter((dep) => dep.name !== 'throughline')) {
    const version = /^>=(\S+)/.exec(d.version)?.[1];
    if (!version) throw new Error(`${d.name}: expected a ">=x.y.z <..." range, not ${d.version}`);
    mkdirSync(path.join(chart, 'charts', d.name));
    writeFileSync(
      path.join(chart, 'charts', d.name, 'Chart.yaml'),
      `apiVersion: v2\nname: ${d.name}\nversion: ${version}\n`,
    );
  }
  return chart;
}

export function removeLayout(chart: string | undefined): void {
  if (chart) rmSync(path.dirname(chart), { recursive: true, force: true });
}
