/**
 * The alert rules: valid for Prometheus (`promtool check rules`), each one firing when it should and quiet when it
 * should not (`promtool test rules alerts.test.yaml`), and shipped by the chart as a PrometheusRule holding exactly
 * the groups of the plain rule file.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chartDir, helmDir, helmTemplate } from './helm.js';

const RULES = path.join(chartDir, 'files/alerts.yaml');

function promtool(args: string[]): { status: number | null; output: string } {
  const run = spawnSync('promtool', args, { cwd: helmDir, encoding: 'utf8' });
  if (run.error !== undefined)
    throw new Error(
      `promtool is not installed (${run.error.message}): install Debian's prometheus package (apt-get install prometheus), which brings it`,
    );
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('alert rules', () => {
  it('are valid Prometheus rules', () => {
    const run = promtool(['check', 'rules', RULES]);
    expect(run.output).toMatch(/SUCCESS: 7 rules found/);
    expect(run.status).toBe(0);
  });

  it('pass their unit tests: each alert fires on what it is for, and stays quiet otherwise', () => {
    const run = promtool(['test', 'rules', 'test/alerts.test.yaml']);
    expect(run.output).toMatch(/SUCCESS/);
    expect(run.status).toBe(0);
  });

  it('have a unit test each', () => {
    const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string }[] }[] }).groups
      .flatMap((g) => g.rules)
      .map((r) => r.alert);
    const tests = readFileSync(path.join(helmDir, 'test/alerts.test.yaml'), 'utf8');
    expect(rules.filter((alert) => !tests.includes(`alertname: ${alert}`))).toEqual([]);
  });

  it('ship in the chart as a PrometheusRule with exactly the groups of the plain file, when asked for', () => {
    const plain = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    expect(plain.objects.some((o) => o.kind === 'PrometheusRule')).toBe(false);
    const rendered = helmTemplate({ valueFiles: ['ci/scaled-values.yaml'] });
    const rule = rendered.objects.find((o) => o.kind === 'PrometheusRule')!;
    expect(rule.metadata.labels).toMatchObject({ release: 'prometheus' });
    expect(rule.spec).toEqual(parse(readFileSync(RULES, 'utf8')));
  });
});
