/**
 * A real Prometheus (Debian's) scrapes every service of a running stack, with the chart's alert rules loaded:
 * every target is up, every rule evaluates without error, the dead-letter alert fires on a dead letter, and every
 * query of the shipped Grafana dashboard names series the services export and returns data.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjects } from '@throughline/contracts';
import { LedgerWorkload } from '@throughline/ledger';
import { startPrometheus, waitFor, type PrometheusHandle } from '@throughline/testkit';
import { expectExactlyOnce } from './exactly-once.js';
import { sendPaced } from './load.js';
import { startStack, type Stack } from './stack.js';

const chartFile = (name: string): string =>
  readFileSync(new URL(`../../../deploy/helm/throughline/files/${name}`, import.meta.url), 'utf8');

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface RuleGroups {
  groups: { rules: { name: string; type: string; health: string; lastError?: string; state?: string }[] }[];
}

/** A dashboard query as Grafana sends it, every stage selected; rates over 30 s (scrapes come every second). */
const expand = (expr: string): string =>
  expr.replaceAll('$__rate_interval', '30s').replaceAll('$stage', '.*');

describe('Prometheus scraping the services', () => {
  let stack: Stack;
  let prometheus: PrometheusHandle;
  const acknowledged: string[] = [];

  beforeAll(async () => {
    stack = await startStack({ partitions: 4, stateInstances: 1, writerInstances: 1 });
    // A partition moved between state instances: the hand-over series exist before the first scrape.
    await stack.addInstance('state');
    const targets = [...stack.httpPorts.entries()].map(([service, port]) => ({
      targets: [`127.0.0.1:${port}`],
      labels: { service },
    }));
    prometheus = await startPrometheus({
      config: JSON.stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: ['alerts.yaml'],
        scrape_configs: [{ job_name: 'throughline', static_configs: targets }],
      }),
      files: { 'alerts.yaml': chartFile('alerts.yaml') },
    });
  }, 180_000);

  afterAll(async () => {
    await prometheus?.stop();
    await stack?.stop();
  });

  const query = async (expr: string): Promise<Sample[]> =>
    (await prometheus.api<{ result: Sample[] }>('query', { query: expr })).result;

  it('scrapes every service, evaluates every shipped rule and dashboard query on what they export', async () => {
    await waitFor(
      async () => {
        const up = await query('up');
        return up.length === stack.httpPorts.size && up.every((s) => s.value[1] === '1');
      },
      { timeoutMs: 30_000, intervalMs: 250, message: 'not every service scraped and up' },
    );

    // Traffic, a dead letter, and a short refusal of Redis: what makes every series of the rules and panels exist.
    const events = new LedgerWorkload({ accounts: 500, tenants: 5, seed: 51, idPrefix: 'prom' }).take(4_000);
    const redis = new Redis(stack.redis.url);
    try {
      const load = sendPaced(stack.ingest, events, { perSecond: 2_000 });
      await stack.bus.publish(subjects.of('ingested', 0), new Uint8Array([0xff, 0xff]), {
        msgId: 'prometheus-garbage',
      });
      await redis.config('SET', 'maxmemory-policy', 'noeviction');
      await redis.config('SET', 'maxmemory', '1');
      await new Promise((r) => setTimeout(r, 1_500));
      await redis.config('SET', 'maxmemory', '0');
      await load.done;
    } finally {
      redis.disconnect();
    }
    acknowledged.push(...events.map((e) => e.eventId));
    await expectExactlyOnce(stack, acknowledged, { deadLettersAfter: false });
    // The undecodable message is the one dead letter: Redis refusing writes dead-lettered nothing.
    expect((await stack.bus.readDeadLetters()).map((l) => l.reason)).toEqual([
      expect.stringMatching(/^enrich: cannot decode message: /),
    ]);

    // The dead letter fires its alert (no `for`), and every rule evaluated without error.
    await waitFor(
      async () =>
        (await query('ALERTS{alertname="ThroughlineDeadLetters", alertstate="firing"}')).some(
          (s) => s.metric.tl_stage === 'enrich',
        ),
      { timeoutMs: 30_000, intervalMs: 250, message: 'the dead-letter alert did not fire for enrich' },
    );
    const rules = (await prometheus.api<RuleGroups>('rules')).groups.flatMap((g) => g.rules);
    expect(rules).toHaveLength(7);
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);

    // Every metric a rule or a panel reads is one the services export.
    const dashboard = JSON.parse(chartFile('dashboard.json')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const queries = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title, expr: expand(t.expr) })),
    );
    const named = (expr: string): string[] =>
      [
        ...expr.replace(/\b(by|on|without|ignoring) \([^)]*\)|\{[^}]*\}/g, '').matchAll(/\btl_[a-z_]+\b/g),
      ].map((m) => m[0]);
    const exported = new Set(await prometheus.api<string[]>('label/__name__/values'));
    const alertExprs = [
      ...chartFile('alerts.yaml').matchAll(/expr: (?:>-\n)?([\s\S]*?)\n\s+(?:for|labels):/g),
    ];
    const wanted = new Set([
      ...queries.flatMap((q) => named(q.expr)),
      ...alertExprs.flatMap((m) => named(m[1]!)),
    ]);
    expect(wanted.size).toBeGreaterThanOrEqual(15);
    expect([...wanted].filter((name) => !exported.has(name))).toEqual([]);
    // And every metric the README documents (a histogram by its _count series).
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const documented = [...readme.matchAll(/^\| `(tl_[a-z_]+)` \|/gm)].map((m) => m[1]!);
    expect(documented.length).toBeGreaterThanOrEqual(20);
    // A gauge appears with its first value (the cache hit ratio, with the first account look-up): give Prometheus
    // a few scrapes to store what the services serve by now, rather than judging one moment.
    let missing: string[] = [];
    await waitFor(
      async () => {
        const stored = new Set(await prometheus.api<string[]>('label/__name__/values'));
        missing = documented.filter((name) => !stored.has(name) && !stored.has(`${name}_count`));
        return missing.length === 0;
      },
      { timeoutMs: 15_000, intervalMs: 500 },
    ).catch(() => undefined);
    // What the services serve now for a metric Prometheus never stored, to tell a scrape problem from an absent one.
    const served = async () =>
      (
        await Promise.all(
          [...stack.httpPorts].map(async ([service, port]) => {
            const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
            return text
              .split('\n')
              .filter((l) => missing.some((m) => l.startsWith(m)))
              .map((l) => `${service}: ${l}`);
          }),
        )
      ).flat();
    const targetHealth = async () =>
      (
        await prometheus.api<{
          activeTargets: { labels: Record<string, string>; health: string; lastError: string }[];
        }>('targets')
      ).activeTargets.map((t) => `${t.labels.service}: ${t.health} ${t.lastError}`);
    expect(
      missing,
      missing.length > 0 ? [...(await served()), ...(await targetHealth())].join('\n') : '',
    ).toEqual([]);

    // Every panel's query returns data while the traffic is inside its window.
    const empty = async (): Promise<string[]> => {
      const answers = await Promise.all(queries.map(async (q) => ({ q, n: (await query(q.expr)).length })));
      return answers.filter((a) => a.n === 0).map((a) => `${a.q.panel}: ${a.q.expr}`);
    };
    let last: string[] = [];
    await waitFor(async () => (last = await empty()).length === 0, {
      timeoutMs: 20_000,
      intervalMs: 500,
      message: 'not every dashboard query answered',
    }).catch(() => undefined);
    expect(last).toEqual([]);
  });
});
