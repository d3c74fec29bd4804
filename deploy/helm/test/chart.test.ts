import { readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { at, chartDir, helmTemplate, renderer, type K8sObject } from './helm.js';
import { checkAll, componentOf, envOf, PARTITION_OWNERS, podSpecOf, SERVICES } from './invariants.js';
import { validateObject } from './kube-schemas.js';

const ciFiles = readdirSync(path.join(chartDir, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();

beforeAll(() => {
  renderer();
}, 180_000);

describe.each(ciFiles)('helm template -f ci/%s', (file) => {
  const rendered = () => helmTemplate({ valueFiles: [`ci/${file}`] });

  it('renders objects that validate against the Kubernetes schemas', () => {
    const r = rendered();
    expect(r.objects.length).toBeGreaterThan(10);
    expect(r.objects.flatMap(validateObject)).toEqual([]);
    expect(new Set(r.objects.map((o) => `${o.kind}/${o.metadata.name}`)).size).toBe(r.objects.length);
  });

  it('keeps the invariants: selectors, probes, resources, secrets, partition ownership', () => {
    expect(checkAll(rendered())).toEqual([]);
  });

  it('has one workload per service: Deployments for ingest and config, StatefulSets for the partition owners', () => {
    const r = rendered();
    const kinds = Object.fromEntries(
      r.objects
        .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
        .map((o) => [componentOf(o), o.kind]),
    );
    expect(kinds).toEqual({
      ingest: 'Deployment',
      config: 'Deployment',
      enrich: 'StatefulSet',
      state: 'StatefulSet',
      writer: 'StatefulSet',
    });
    expect(r.notes).toContain('helm test');
  });
});

describe('values.yaml', () => {
  it('renders with only the connections Secret added', () => {
    const r = helmTemplate({ set: at('connections.existingSecret', 'conn') });
    expect(r.objects.flatMap(validateObject)).toEqual([]);
  });

  it('scaling one service changes only that service workload', () => {
    const base = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    for (const name of SERVICES) {
      const scaled = helmTemplate({ valueFiles: ['ci/default-values.yaml'], set: at(`${name}.replicas`, 5) });
      const changed = scaled.objects.filter(
        (o) => JSON.stringify(o) !== JSON.stringify(base.byName.get(`${o.kind}/${o.metadata.name}`)),
      );
      expect(changed.map((o) => `${o.kind}/${componentOf(o)}`)).toEqual([
        `${name === 'ingest' || name === 'config' ? 'Deployment' : 'StatefulSet'}/${name}`,
      ]);
      expect(changed[0]!.spec.replicas).toBe(5);
      expect(scaled.objects.length).toBe(base.objects.length);
    }
  });

  it('maps each partition owner to its stream and per-partition consumers in KEDA triggers', () => {
    const r = helmTemplate({
      valueFiles: ['ci/keda-values.yaml'],
      set: {
        partitionCount: 8,
        enrich: { autoscaling: { maxReplicas: 8 } },
        writer: { autoscaling: { maxReplicas: 8 } },
      },
    });
    const stages = { enrich: 'ingested', state: 'enriched', writer: 'applied' } as const;
    for (const name of PARTITION_OWNERS) {
      const so = r.objects.find((o) => o.kind === 'ScaledObject' && componentOf(o) === name)!;
      const triggers = so.spec.triggers as { name: string; metadata: Record<string, string> }[];
      expect(triggers.map((t) => t.metadata.consumer)).toEqual(
        [0, 1, 2, 3, 4, 5, 6, 7].map((p) => `${name}-${stages[name]}-${p}`),
      );
      expect(new Set(triggers.map((t) => t.metadata.stream))).toEqual(
        new Set([`TL_${stages[name].toUpperCase()}`]),
      );
      expect(so.spec.advanced.scalingModifiers.formula).toBe(triggers.map((t) => t.name).join(' + '));
      expect(so.spec.maxReplicaCount).toBeLessThanOrEqual(8);
      expect(so.spec.scaleTargetRef).toMatchObject({ kind: 'StatefulSet', name: `tl-throughline-${name}` });
    }
  });

  it('runs migrations as a hook before install and upgrade, after install when PostgreSQL is part of the release', () => {
    const job = (r: ReturnType<typeof helmTemplate>) => r.objects.find((o) => o.kind === 'Job')!;
    const plain = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    expect(job(plain).metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-install,pre-upgrade' });
    expect(envOf(podSpecOf(job(plain)).containers[0]!).get('MIGRATE_ONLY')?.value).toBe('true');
    const scaled = helmTemplate({ valueFiles: ['ci/scaled-values.yaml'] });
    const hookSecret = scaled.objects.find(
      (o) => o.kind === 'Secret' && o.metadata.annotations?.['helm.sh/hook'],
    );
    expect(hookSecret?.metadata.annotations?.['helm.sh/hook-weight']).toBe('-10');
    expect(
      envOf(podSpecOf(job(scaled)).containers[0]!).get('DATABASE_URL')?.valueFrom?.secretKeyRef?.name,
    ).toBe(hookSecret?.metadata.name);
  });

  it('takes each connection from its own existing Secret and key', () => {
    const r = helmTemplate({ valueFiles: ['ci/existing-secrets-values.yaml'] });
    const state = r.byName.get('StatefulSet/tl-throughline-state') as K8sObject;
    const env = envOf(podSpecOf(state).containers[0]!);
    expect(env.get('NATS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'nats-client', key: 'url' });
    expect(env.get('REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({
      name: 'redis-credentials',
      key: 'redis-url',
    });
    expect(env.get('DATABASE_URL')?.valueFrom?.secretKeyRef).toEqual({
      name: 'throughline-pg-app',
      key: 'uri',
    });
    expect(r.objects.some((o) => o.kind === 'Secret')).toBe(false);
  });
});

describe('the invariant checks', () => {
  it('report what a broken chart would render', () => {
    const r = helmTemplate({ valueFiles: ['ci/scaled-values.yaml'] });
    const writer = r.byName.get('StatefulSet/tl-throughline-writer')!;
    const container = podSpecOf(writer).containers[0]!;
    delete (container as { readinessProbe?: unknown }).readinessProbe;
    container.env!.find((e) => e.name === 'INSTANCE_COUNT')!.value = '3';
    container.env!.push({ name: 'DATABASE_URL', value: r.values.connections.database.url });
    writer.spec.selector.matchLabels['app.kubernetes.io/component'] = 'writers';
    expect(checkAll(r)).toEqual(
      expect.arrayContaining([
        'StatefulSet/tl-throughline-writer: selector does not match its pod labels',
        'StatefulSet/tl-throughline-writer/writer: readinessProbe missing or not /readyz on a named port',
        'StatefulSet/tl-throughline-writer: contains a secret value',
        'tl-throughline-writer/writer: DATABASE_URL is a plain value',
        'writer: INSTANCE_COUNT 3 != replicas 6',
      ]),
    );
  });
});
