/**
 * The umbrella chart throughline-stack (throughline with NATS, Redis, PostgreSQL and Jaeger in one release). Its
 * public dependencies need network access to fetch (`helm dependency build`), which CI does not have, so it is
 * rendered here as that command would lay it out (stack-layout.ts), with stand-ins for the public charts. That
 * checks this repository's side: the dependency list, the values that wire throughline to the release's own
 * services, and `helm lint`. Whether the public charts accept their values is not checked here.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { chartDir, coalesce, helmLint, helmTemplate, stackDir, type Rendered } from './helm.js';
import { checkAll, envOf, podSpecOf, STAGES } from './invariants.js';
import { validateObject } from './kube-schemas.js';
import { layOutStack, removeLayout, stackDependencies } from './stack-layout.js';

const readYaml = (file: string) => parse(readFileSync(file, 'utf8')) as Record<string, any>;
const chart = readYaml(path.join(chartDir, 'Chart.yaml'));
const stack = readYaml(path.join(stackDir, 'Chart.yaml'));
const stackValues = readYaml(path.join(stackDir, 'values.yaml'));
const publicCharts = stackDependencies.filter((d) => d.name !== 'throughline');

let laidOut: string;
beforeAll(() => {
  laidOut = layOutStack();
});
afterAll(() => removeLayout(laidOut));

/** The stack rendered, with the values the throughline subchart sees (its defaults under the stack's). */
function renderStack(release: string, set?: Record<string, unknown>): Rendered {
  const r = helmTemplate({ chart: laidOut, release, ...(set ? { set } : {}) });
  const defaults = readYaml(path.join(chartDir, 'values.yaml'));
  return { ...r, values: coalesce(defaults, r.values.throughline as Record<string, unknown>) };
}

describe('deploy/helm/throughline-stack', () => {
  it('leaves the throughline chart without dependencies, so installing it needs nothing fetched', () => {
    expect(chart.dependencies).toBeUndefined();
    expect(existsSync(path.join(chartDir, 'charts'))).toBe(false);
  });

  it('depends on ./throughline at its version, and on each public chart under <name>.enabled (on)', () => {
    expect(stackDependencies[0]).toEqual({
      name: 'throughline',
      version: chart.version,
      repository: 'file://../throughline',
    });
    expect(publicCharts.map((d) => d.name)).toEqual(['nats', 'redis', 'postgresql', 'jaeger']);
    for (const d of publicCharts) {
      expect(d.condition).toBe(`${d.name}.enabled`);
      expect(stackValues[d.name].enabled).toBe(true);
    }
    expect(stack.kubeVersion).toBe(chart.kubeVersion);
  });

  it('runs NATS as a 3-node JetStream cluster, every stream and bucket in three copies', () => {
    expect(stackValues.nats.config).toMatchObject({
      cluster: { enabled: true, replicas: 3 },
      jetstream: { enabled: true },
    });
    for (const service of ['ingest', 'enrich', 'state', 'writer']) {
      const deployment = renderStack('tl').byName.get(`Deployment/tl-throughline-${service}`)!;
      expect(envOf(podSpecOf(deployment).containers[0]!).get('BUS_STREAM_REPLICAS')?.value, service).toBe(
        '3',
      );
    }
  });

  it('fails, naming `helm dependency build`, until the dependencies are fetched', () => {
    expect(() => helmTemplate({ chart: stackDir })).toThrow(
      /You may need to run `helm dependency build`.*found in Chart.yaml, but missing in charts\/ directory: throughline, nats, redis, postgresql, jaeger/,
    );
  });

  it('passes helm lint --strict once they are', () => {
    const lint = helmLint(laidOut);
    expect(lint.report).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(lint.ok).toBe(true);
  });

  it.each(['tl', 'redis-demo'])(
    'points throughline at the services of release %s, passwords read from their Secrets',
    (release) => {
      const r = renderStack(release);
      const name = (chartName: string) => (release.includes(chartName) ? release : `${release}-${chartName}`);
      expect(r.objects.flatMap(validateObject)).toEqual([]);
      expect(checkAll(r)).toEqual([]);
      const state = r.byName.get(`Deployment/${release}-throughline-state`)!;
      const env = envOf(podSpecOf(state).containers[0]!);
      expect(r.byName.get(`Secret/${release}-throughline-connections`)?.stringData).toEqual({
        NATS_URL: `nats://${name('nats')}:4222`,
      });
      expect(env.get('TL_REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
        name: name('redis'),
        key: 'redis-password',
      });
      expect(env.get('REDIS_URL')?.value).toBe(`redis://:$(TL_REDIS_PASSWORD)@${name('redis')}-master:6379`);
      expect(env.get('TL_DATABASE_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
        name: name('postgresql'),
        key: 'password',
      });
      expect(env.get('DATABASE_URL')?.value).toBe(
        `postgres://throughline:$(TL_DATABASE_PASSWORD)@${name('postgresql')}:5432/throughline`,
      );
      expect(env.get('OTEL_EXPORTER_OTLP_ENDPOINT')?.value).toBe(`http://${name('jaeger')}-collector:4318`);
      const job = r.objects.find((o) => o.kind === 'Job')!;
      expect(job.metadata.annotations?.['helm.sh/hook']).toBe('post-install,pre-upgrade');
    },
  );

  it("points KEDA at the release's own ingest for each stage's lag", () => {
    const keda = { mode: 'keda', minReplicas: 1, maxReplicas: 4 };
    const r = renderStack('tl', {
      throughline: Object.fromEntries(STAGES.map((s) => [s, { autoscaling: keda }])),
    });
    const so = r.byName.get('ScaledObject/tl-throughline-writer')!;
    expect(so.spec.triggers[0].metadata).toMatchObject({
      url: 'http://tl-throughline-ingest.pipeline.svc:9464/lag',
      valueLocation: 'writer',
    });
  });
});
