/**
 * TLS of the gRPC APIs in the chart: off, ingest and config say plaintext explicitly (they refuse to start
 * otherwise); on, they serve the Secret's certificate (with client authentication when asked), enrich and the
 * helm test pod trust its CA, and only the pods that speak gRPC mount it.
 */
import { describe, expect, it } from 'vitest';
import { helmTemplate, type K8sObject } from './helm.js';
import { podSpecOf } from './invariants.js';
import { containerOf } from './pod-env.js';

const plainEnv = (o: K8sObject): Record<string, string> =>
  Object.fromEntries(
    (containerOf(o).env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
  );

const deployment = (objects: K8sObject[], name: string): K8sObject =>
  objects.find((o) => o.kind === 'Deployment' && o.metadata.name === `tl-throughline-${name}`)!;

describe('gRPC TLS in the chart', () => {
  it('says plaintext explicitly by default', () => {
    const { objects } = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    expect(plainEnv(deployment(objects, 'ingest')).GRPC_PLAINTEXT).toBe('true');
    expect(plainEnv(deployment(objects, 'config')).GRPC_PLAINTEXT).toBe('true');
    expect(plainEnv(deployment(objects, 'enrich')).CONFIG_PLAINTEXT).toBe('true');
    for (const name of ['ingest', 'config', 'enrich', 'state', 'writer'])
      expect(JSON.stringify(podSpecOf(deployment(objects, name)).volumes)).not.toContain('grpc-tls');
  });

  it('serves the Secret with client authentication when enabled, and mounts it where gRPC is spoken', () => {
    const { objects } = helmTemplate({ valueFiles: ['ci/existing-secrets-values.yaml'] });
    const dir = '/etc/throughline/grpc-tls';
    for (const name of ['ingest', 'config']) {
      const env = plainEnv(deployment(objects, name));
      expect(env).toMatchObject({
        GRPC_TLS_CERT_FILE: `${dir}/tls.crt`,
        GRPC_TLS_KEY_FILE: `${dir}/tls.key`,
        GRPC_TLS_CLIENT_CA_FILE: `${dir}/ca.crt`,
      });
      expect(env.GRPC_PLAINTEXT).toBeUndefined();
    }
    expect(plainEnv(deployment(objects, 'enrich'))).toMatchObject({
      CONFIG_TLS_CA_FILE: `${dir}/ca.crt`,
      CONFIG_TLS_CERT_FILE: `${dir}/tls.crt`,
      CONFIG_TLS_KEY_FILE: `${dir}/tls.key`,
    });
    const mounts = (name: string): string => JSON.stringify(podSpecOf(deployment(objects, name)).volumes);
    for (const name of ['ingest', 'config', 'enrich']) expect(mounts(name)).toContain('throughline-grpc-tls');
    for (const name of ['state', 'writer']) expect(mounts(name)).not.toContain('grpc-tls');
    const testPod = objects.find((o) => o.kind === 'Pod')!;
    expect(JSON.stringify(testPod)).toContain('INGEST_TLS_CA_FILE');
  });

  it('refuses TLS without a Secret', () => {
    expect(() =>
      helmTemplate({ valueFiles: ['ci/default-values.yaml'], set: { grpcTls: { enabled: true } } }),
    ).toThrow(/grpcTls.secretName is required/);
  });
});
