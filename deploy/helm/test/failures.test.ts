import { beforeAll, describe, expect, it } from 'vitest';
import { at, helmTemplate, renderer, type RenderOptions } from './helm.js';

beforeAll(() => {
  renderer();
}, 180_000);

const withSecret = (extra: Record<string, unknown>): RenderOptions => ({
  valueFiles: ['ci/default-values.yaml'],
  set: extra,
});

describe('a broken value fails the render with a message naming it', () => {
  it('a partition owner with more replicas than partitions', () => {
    expect(() => helmTemplate(withSecret(at('writer.replicas', 17)))).toThrow(
      'writer.replicas (17) exceeds partitionCount (16): each partition has one owner',
    );
    expect(() => helmTemplate(withSecret({ partitionCount: 4, state: { replicas: 5 } }))).toThrow(
      'state.replicas (5) exceeds partitionCount (4)',
    );
  });

  it('autoscaling past the partition count', () => {
    expect(() =>
      helmTemplate({ valueFiles: ['ci/keda-values.yaml'], set: at('enrich.autoscaling.maxReplicas', 32) }),
    ).toThrow('enrich.autoscaling.maxReplicas (32) exceeds partitionCount (16)');
  });

  it('a missing NATS URL', () => {
    const set = { connections: { redis: { url: 'redis://r:6379' }, database: { url: 'postgres://p/db' } } };
    expect(() => helmTemplate({ set })).toThrow(
      /execution error at \(throughline\/templates\/[^)]+\): connections\.nats: set url \(stored in a Secret by this chart\), existingSecret/,
    );
  });

  it('an env entry that would shadow a setting the chart owns', () => {
    expect(() => helmTemplate(withSecret(at('writer.env', { INSTANCE_COUNT: '3' })))).toThrow(
      'writer.env.INSTANCE_COUNT is set by the chart from its own values',
    );
  });

  it('KEDA without a NATS monitoring endpoint', () => {
    expect(() => helmTemplate(withSecret(at('writer.autoscaling.mode', 'keda')))).toThrow(
      'keda.natsServerMonitoringEndpoint: set the host:port',
    );
  });

  it('values that break values.schema.json', () => {
    expect(() => helmTemplate(withSecret(at('writer.replicas', 'two')))).toThrow(
      /schema[\s\S]*- writer\.replicas: must be integer/,
    );
    expect(() => helmTemplate(withSecret(at('writer.autoscaling.mode', 'vpa')))).toThrow(
      /- writer\.autoscaling\.mode: must be equal to one of the allowed values/,
    );
    expect(() => helmTemplate(withSecret(at('writer.replica', 3)))).toThrow(
      /- writer: must NOT have additional properties 'replica'/,
    );
    expect(() => helmTemplate(withSecret(at('partitionCount', 0)))).toThrow(/- partitionCount: must be >= 1/);
    expect(() => helmTemplate(withSecret(at('ingest.resources.requests', null)))).toThrow(
      /ingest\.resources: must have required property 'requests'/,
    );
  });

  it('a cluster older than the chart supports', () => {
    expect(() => helmTemplate({ valueFiles: ['ci/default-values.yaml'], kubeVersion: 'v1.24.9' })).toThrow(
      'chart requires kubeVersion: >=1.25.0-0 which is incompatible with Kubernetes v1.24.9',
    );
  });

  it('an enabled subchart that `helm dependency build` has not fetched', () => {
    expect(() => helmTemplate(withSecret(at('nats.enabled', true)))).toThrow(
      'found in Chart.yaml, but missing in charts/ directory: nats',
    );
  });
});
