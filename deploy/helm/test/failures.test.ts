import { describe, expect, it } from 'vitest';
import { at, helmTemplate, type RenderOptions } from './helm.js';

const withSecret = (extra: Record<string, unknown>): RenderOptions => ({
  valueFiles: ['ci/default-values.yaml'],
  set: extra,
});

/** Helm's report of a `fail` or `required` in a template: "execution error at (<template>:<line>:<col>): ..." */
const executionError = (message: string) =>
  new RegExp(
    `^Error: execution error at \\(throughline/templates/[^)]+\\): ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
  );

describe('a broken value fails the render with a message naming it', () => {
  it('a stage with more replicas than partitions', () => {
    expect(() => helmTemplate(withSecret(at('writer.replicas', 17)))).toThrow(
      executionError(
        'writer.replicas (17) exceeds partitionCount (16): each partition has one owner at a time',
      ),
    );
    expect(() => helmTemplate(withSecret({ partitionCount: 4, state: { replicas: 5 } }))).toThrow(
      'state.replicas (5) exceeds partitionCount (4)',
    );
  });

  it('autoscaling past the partition count', () => {
    expect(() =>
      helmTemplate({ valueFiles: ['ci/keda-values.yaml'], set: at('enrich.autoscaling.maxReplicas', 32) }),
    ).toThrow(
      'enrich.autoscaling.maxReplicas (32) exceeds partitionCount (16): an instance beyond the partition',
    );
    expect(() =>
      helmTemplate(withSecret(at('state.autoscaling', { mode: 'hpa', minReplicas: 1, maxReplicas: 17 }))),
    ).toThrow('state.autoscaling.maxReplicas (17) exceeds partitionCount (16)');
  });

  it('a missing NATS URL', () => {
    const set = { connections: { redis: { url: 'redis://r:6379' }, database: { url: 'postgres://p/db' } } };
    expect(() => helmTemplate({ set })).toThrow(
      executionError('connections.nats: set url (stored in a Secret by this chart), existingSecret'),
    );
  });

  it('a URL beside a password Secret that does not refer to the password', () => {
    const set = {
      connections: {
        nats: { url: 'nats://n:4222' },
        redis: { url: 'redis://:pw@r:6379', passwordSecret: { name: 'r', key: 'redis-password' } },
        database: { url: 'postgres://p/db' },
      },
    };
    expect(() => helmTemplate({ set })).toThrow(
      'connections.redis.url must refer to the password as $(TL_REDIS_PASSWORD) when connections.redis.passwordSecret is set',
    );
  });

  it('config admin settings that contradict each other, or name certificates nothing verifies', () => {
    expect(() =>
      helmTemplate({
        valueFiles: ['ci/default-values.yaml'],
        set: { config: { admin: { open: true, tokensSecret: { name: 'a', key: 'k' } } } },
      }),
    ).toThrow('config.admin.open contradicts config.admin.tokensSecret and config.admin.clients: choose one');
    expect(() =>
      helmTemplate({
        valueFiles: ['ci/default-values.yaml'],
        set: { config: { admin: { clients: ['ops'] } } },
      }),
    ).toThrow(
      'config.admin.clients names client certificates, which only mutual TLS verifies: set grpcTls.enabled and grpcTls.clientAuth',
    );
    expect(() =>
      helmTemplate({
        valueFiles: ['ci/default-values.yaml'],
        set: { config: { admin: { clients: ['a,b'] } } },
      }),
    ).toThrow(/config\.admin\.clients\.0/);
  });

  it('a password file asked for where the services cannot read one, or beside a password in the URL', () => {
    const connections = (redis: object, database: object) => ({
      connections: { nats: { url: 'nats://n:4222' }, redis: { url: 'redis://r:6379', ...redis }, database },
    });
    // The schema has no asFile for NATS and Redis (their clients take the password in the URL only).
    expect(() =>
      helmTemplate({
        set: connections(
          { passwordSecret: { name: 'r', key: 'p', asFile: true } },
          { url: 'postgres://p/db' },
        ),
      }),
    ).toThrow('connections.redis.passwordSecret: Additional property asFile is not allowed');
    expect(() =>
      helmTemplate({
        set: connections(
          {},
          {
            url: 'postgres://u:$(TL_DATABASE_PASSWORD)@p/db',
            passwordSecret: { name: 'p', key: 'p', asFile: true },
          },
        ),
      }),
    ).toThrow(
      'connections.database.url must hold no password when connections.database.passwordSecret.asFile is set',
    );
  });

  it('NATS credentials without their Secret, or a password without its user', () => {
    const nats = (auth: object) => withSecret(at('connections.nats.auth', auth));
    expect(() => helmTemplate(nats({ method: 'token' }))).toThrow(
      'connections.nats.auth.secretName: the Secret holding the NATS token',
    );
    expect(() => helmTemplate(nats({ method: 'password', secretName: 's' }))).toThrow(
      'connections.nats.auth.user: the NATS user whose password the Secret holds',
    );
    expect(() => helmTemplate(nats({ method: 'kerberos', secretName: 's' }))).toThrow(/method/);
  });

  it('an env entry that would shadow a setting the chart owns', () => {
    expect(() => helmTemplate(withSecret(at('writer.env', { LEASE_TTL_MS: '3000' })))).toThrow(
      executionError('writer.env.LEASE_TTL_MS is set by the chart from its own values'),
    );
  });

  it('an env entry asking for static partition assignment, which a Deployment cannot give', () => {
    for (const key of ['INSTANCE_COUNT', 'INSTANCE_INDEX', 'PARTITION_ASSIGNMENT'])
      expect(() => helmTemplate(withSecret(at(`state.env.${key}`, '1')))).toThrow(
        `state.env.${key}: the instances of a Deployment have no index, so the chart always shares partitions through leases`,
      );
  });

  it('values that break values.schema.json (Helm checks them before rendering)', () => {
    const schemaError =
      /^Error: values don't meet the specifications of the schema\(s\) in the following chart\(s\):\nthroughline:\n/;
    expect(() => helmTemplate(withSecret(at('writer.replicas', 'two')))).toThrow(schemaError);
    expect(() => helmTemplate(withSecret(at('writer.replicas', 'two')))).toThrow(
      '- writer.replicas: Invalid type. Expected: integer, given: string',
    );
    expect(() => helmTemplate(withSecret(at('writer.autoscaling.mode', 'vpa')))).toThrow(
      '- writer.autoscaling.mode: writer.autoscaling.mode must be one of the following: "none", "hpa", "keda"',
    );
    expect(() => helmTemplate(withSecret(at('writer.replica', 3)))).toThrow(
      '- writer: Additional property replica is not allowed',
    );
    expect(() => helmTemplate(withSecret(at('partitionCount', 0)))).toThrow(
      '- partitionCount: Must be greater than or equal to 1',
    );
    expect(() => helmTemplate(withSecret(at('leaseTtlMs', 100)))).toThrow(
      '- leaseTtlMs: Must be greater than or equal to 500',
    );
    expect(() => helmTemplate(withSecret(at('ingest.resources.requests', null)))).toThrow(
      '- ingest.resources: requests is required',
    );
  });

  it('the subchart switches of the old chart, now the umbrella chart throughline-stack', () => {
    expect(() => helmTemplate(withSecret(at('nats.enabled', true)))).toThrow(
      '- (root): Additional property nats is not allowed',
    );
  });

  it('a cluster older than the chart supports', () => {
    expect(() => helmTemplate({ valueFiles: ['ci/default-values.yaml'], kubeVersion: 'v1.24.9' })).toThrow(
      'Error: chart requires kubeVersion: >=1.25.0-0 which is incompatible with Kubernetes v1.24.9',
    );
  });
});
