import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { at, chartDir, helmLint, helmTemplate, type Rendered } from './helm.js';
import { checkAll, componentOf, envOf, podSpecOf, SERVICES, STAGES, workloads } from './invariants.js';
import { validateObject } from './kube-schemas.js';

const ciFiles = readdirSync(path.join(chartDir, 'ci'))
  .filter((f) => f.endsWith('-values.yaml'))
  .sort();

describe.each(ciFiles)('the chart with ci/%s', (file) => {
  const rendered = () => helmTemplate({ valueFiles: [`ci/${file}`], kubeVersion: 'v1.30.0' });

  it('passes helm lint --strict', () => {
    const lint = helmLint(chartDir, [`ci/${file}`]);
    expect(lint.report).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(lint.ok).toBe(true);
  });

  it('renders objects that validate against the Kubernetes schemas', () => {
    const r = rendered();
    expect(r.objects.length).toBeGreaterThan(10);
    expect(r.objects.flatMap(validateObject)).toEqual([]);
    expect(new Set(r.objects.map((o) => `${o.kind}/${o.metadata.name}`)).size).toBe(r.objects.length);
  });

  it('keeps the invariants: selectors, probes, resources, secrets, partition ownership by leases', () => {
    expect(checkAll(rendered())).toEqual([]);
  });

  it('runs every service as a Deployment, none with access to the Kubernetes API', () => {
    const r = rendered();
    expect(workloads(r).map(componentOf).sort()).toEqual([...SERVICES].sort());
    expect(r.objects.filter((o) => /Role|StatefulSet/.test(o.kind))).toEqual([]);
    for (const w of workloads(r)) expect(podSpecOf(w).automountServiceAccountToken).toBe(false);
  });
});

const deployment = (r: Rendered, name: string) => r.byName.get(`Deployment/tl-throughline-${name}`)!;

describe('values.yaml', () => {
  it('renders with only the connections Secret added', () => {
    const r = helmTemplate({ set: at('connections.existingSecret', 'conn') });
    expect(r.objects.flatMap(validateObject)).toEqual([]);
    expect(checkAll(r)).toEqual([]);
  });

  it('scaling one service changes only that Deployment, and not its pod template (no pod restarts)', () => {
    const base = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    for (const name of SERVICES) {
      const scaled = helmTemplate({ valueFiles: ['ci/default-values.yaml'], set: at(`${name}.replicas`, 5) });
      const changed = scaled.objects.filter(
        (o) => JSON.stringify(o) !== JSON.stringify(base.byName.get(`${o.kind}/${o.metadata.name}`)),
      );
      expect(changed.map((o) => `${o.kind}/${componentOf(o)}`)).toEqual([`Deployment/${name}`]);
      expect(changed[0]!.spec.replicas).toBe(5);
      expect(changed[0]!.spec.template).toEqual(deployment(base, name).spec.template);
      expect(scaled.objects.length).toBe(base.objects.length);
    }
  });

  it('gives each stage its instance id from the pod name and the lease settings every service shares', () => {
    const r = helmTemplate({ valueFiles: ['ci/default-values.yaml'], set: { leaseTtlMs: 8000 } });
    for (const name of STAGES) {
      const env = envOf(podSpecOf(deployment(r, name)).containers[0]!);
      expect(env.get('INSTANCE_ID')?.valueFrom?.fieldRef).toEqual({ fieldPath: 'metadata.name' });
      expect(env.get('PARTITION_ASSIGNMENT')?.value).toBe('balanced');
      expect(env.has('INSTANCE_INDEX') || env.has('INSTANCE_COUNT')).toBe(false);
    }
    // ingest creates the lease bucket as readily as a stage does, so it carries the same time to live.
    for (const name of ['ingest', ...STAGES])
      expect(envOf(podSpecOf(deployment(r, name)).containers[0]!).get('LEASE_TTL_MS')?.value).toBe('8000');
  });

  it('gives every service on NATS the same count of stream copies, one unless told, at most five', () => {
    const copies = (r: Rendered) =>
      ['ingest', ...STAGES].map(
        (name) => envOf(podSpecOf(deployment(r, name)).containers[0]!).get('BUS_STREAM_REPLICAS')?.value,
      );
    expect(copies(helmTemplate({ valueFiles: ['ci/default-values.yaml'] }))).toEqual(['1', '1', '1', '1']);
    expect(
      copies(helmTemplate({ valueFiles: ['ci/default-values.yaml'], set: { bus: { streamReplicas: 3 } } })),
    ).toEqual(['3', '3', '3', '3']);
    for (const streamReplicas of [0, 6])
      expect(() =>
        helmTemplate({ valueFiles: ['ci/default-values.yaml'], set: { bus: { streamReplicas } } }),
      ).toThrow(/streamReplicas/);
    // Three copies on nats-server 2.9 are refused by the services unless the chart says the risk is accepted.
    const accepted = (r: Rendered) =>
      ['ingest', ...STAGES].map(
        (name) =>
          envOf(podSpecOf(deployment(r, name)).containers[0]!).get('BUS_ACCEPT_NATS_2_9_REPLICAS')?.value,
      );
    expect(accepted(helmTemplate({ valueFiles: ['ci/default-values.yaml'] }))).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    expect(
      accepted(
        helmTemplate({
          valueFiles: ['ci/default-values.yaml'],
          set: { bus: { streamReplicas: 3, acceptNats29Replicas: true } },
        }),
      ),
    ).toEqual(['true', 'true', 'true', 'true']);
  });

  it('rolls a stage one pod at a time, never below its count, draining within the grace period', () => {
    const r = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    for (const name of STAGES) {
      const w = deployment(r, name);
      expect(w.spec.strategy).toEqual({
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
      });
      expect(podSpecOf(w).terminationGracePeriodSeconds).toBe(25 + 15);
    }
  });

  it('leaves the replicas of an autoscaled stage to HPA or KEDA, which scale its Deployment', () => {
    const r = helmTemplate({
      valueFiles: ['ci/keda-values.yaml'],
      set: { state: { autoscaling: { mode: 'hpa', minReplicas: 1, maxReplicas: 16 } } },
    });
    expect(deployment(r, 'state').spec.replicas).toBeUndefined();
    expect(r.byName.get('HorizontalPodAutoscaler/tl-throughline-state')?.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'tl-throughline-state',
    });
  });

  it("scales each stage with KEDA on its lag, read from ingest's /lag", () => {
    const r = helmTemplate({
      valueFiles: ['ci/keda-values.yaml'],
      set: {
        partitionCount: 8,
        enrich: { autoscaling: { maxReplicas: 8 } },
        writer: { autoscaling: { maxReplicas: 8 } },
      },
    });
    for (const name of STAGES) {
      const so = r.objects.find((o) => o.kind === 'ScaledObject' && componentOf(o) === name)!;
      expect(so.spec.triggers).toEqual([
        {
          type: 'metrics-api',
          metricType: 'AverageValue',
          metadata: {
            url: 'http://tl-throughline-ingest.pipeline.svc:9464/lag',
            valueLocation: name,
            targetValue: String(so.spec.triggers[0].metadata.targetValue),
            activationTargetValue: String(so.spec.triggers[0].metadata.activationTargetValue),
          },
        },
      ]);
      expect(Number(so.spec.triggers[0].metadata.targetValue)).toBeGreaterThan(0);
      expect(so.spec.maxReplicaCount).toBeLessThanOrEqual(8);
      expect(so.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: `tl-throughline-${name}` });
      expect(deployment(r, name).spec.replicas).toBeUndefined();
    }
    // The port is ingest's HTTP port, which its Service exposes.
    const ingest = r.byName.get('Service/tl-throughline-ingest')!;
    expect(ingest.spec.ports).toContainEqual(expect.objectContaining({ name: 'http', port: 9464 }));
    const custom = helmTemplate({
      valueFiles: ['ci/keda-values.yaml'],
      set: { keda: { lagUrl: 'http://{{ .Release.Name }}-lag.example:8080/lag' } },
    });
    const so = custom.objects.find((o) => o.kind === 'ScaledObject' && componentOf(o) === 'writer')!;
    expect(so.spec.triggers[0].metadata.url).toBe('http://tl-lag.example:8080/lag');
  });

  it('gives each stage a headless Service of every pod for its metrics, and nothing else', () => {
    const r = helmTemplate({ valueFiles: ['ci/scaled-values.yaml'] });
    for (const name of STAGES) {
      const svc = r.byName.get(`Service/tl-throughline-${name}-metrics`)!;
      expect(svc.spec).toMatchObject({ clusterIP: 'None', ports: [{ name: 'http', targetPort: 'http' }] });
      const monitor = r.byName.get(`ServiceMonitor/tl-throughline-${name}`)!;
      expect(monitor.spec.selector.matchLabels).toEqual(svc.spec.selector);
    }
    expect(r.objects.filter((o) => o.kind === 'Service').length).toBe(5);
  });

  it('runs migrations as a hook before install and upgrade, in a hook Secret of their own for a URL value', () => {
    const job = (r: Rendered) => r.objects.find((o) => o.kind === 'Job')!;
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
    const env = envOf(podSpecOf(deployment(r, 'state')).containers[0]!);
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

  it('builds a URL from a value and a password Secret, with names rendered against the release', () => {
    const r = helmTemplate({
      release: 'demo',
      valueFiles: ['ci/default-values.yaml'],
      set: {
        connections: {
          existingSecret: '',
          nats: { url: 'nats://nats.messaging:4222' },
          redis: {
            url: 'redis://:$(TL_REDIS_PASSWORD)@{{ .Release.Name }}-redis-master:6379',
            passwordSecret: { name: '{{ .Release.Name }}-redis', key: 'redis-password' },
          },
          database: { url: 'postgres://tl:pw@pg:5432/tl' },
        },
      },
    });
    const env = envOf(podSpecOf(r.byName.get('Deployment/demo-throughline-state')!).containers[0]!);
    expect(env.get('TL_REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
      name: 'demo-redis',
      key: 'redis-password',
    });
    expect(env.get('REDIS_URL')?.value).toBe('redis://:$(TL_REDIS_PASSWORD)@demo-redis-master:6379');
    // Kubernetes expands $(VAR) only from variables defined before.
    expect([...env.keys()].indexOf('TL_REDIS_PASSWORD')).toBeLessThan([...env.keys()].indexOf('REDIS_URL'));
    expect(r.byName.get('Secret/demo-throughline-connections')?.stringData).toEqual({
      NATS_URL: 'nats://nats.messaging:4222',
      DATABASE_URL: 'postgres://tl:pw@pg:5432/tl',
    });
    expect(checkAll(r)).toEqual([]);
  });

  it('mounts NATS credentials and TLS for the services on NATS, and points them at the files', () => {
    const r = helmTemplate({
      release: 'demo',
      valueFiles: ['ci/default-values.yaml'],
      set: {
        connections: {
          nats: {
            auth: { method: 'password', secretName: '{{ .Release.Name }}-nats-user', user: 'ingest' },
            tls: { secretName: 'nats-client-tls', clientCert: true },
          },
        },
      },
    });
    for (const s of ['ingest', 'enrich', 'state', 'writer']) {
      const pod = podSpecOf(r.byName.get(`Deployment/demo-throughline-${s}`)!);
      const env = envOf(pod.containers[0]!);
      expect(env.get('NATS_USER')?.value).toBe('ingest');
      expect(env.get('NATS_PASSWORD_FILE')?.value).toBe('/etc/throughline/nats/password');
      expect(env.get('NATS_TLS_CA_FILE')?.value).toBe('/etc/throughline/nats-tls/ca.crt');
      expect(env.get('NATS_TLS_CERT_FILE')?.value).toBe('/etc/throughline/nats-tls/tls.crt');
      expect(env.get('NATS_TLS_KEY_FILE')?.value).toBe('/etc/throughline/nats-tls/tls.key');
      expect(pod.volumes).toContainEqual({
        name: 'nats-auth',
        secret: { secretName: 'demo-nats-user', defaultMode: 0o440 },
      });
      expect(pod.volumes).toContainEqual({
        name: 'nats-tls',
        secret: { secretName: 'nats-client-tls', defaultMode: 0o440 },
      });
      expect(pod.containers[0]!.volumeMounts).toContainEqual({
        name: 'nats-auth',
        mountPath: '/etc/throughline/nats',
        readOnly: true,
      });
    }
    const config = podSpecOf(r.byName.get('Deployment/demo-throughline-config')!);
    expect(JSON.stringify(config)).not.toContain('nats-auth');
    expect(checkAll(r)).toEqual([]);
    expect(r.objects.flatMap(validateObject)).toEqual([]);

    const token = helmTemplate({
      valueFiles: ['ci/default-values.yaml'],
      set: { connections: { nats: { auth: { method: 'token', secretName: 'nats-token' } } } },
    });
    const env = envOf(podSpecOf(deployment(token, 'state')).containers[0]!);
    expect(env.get('NATS_TOKEN_FILE')?.value).toBe('/etc/throughline/nats/token');
    expect(env.has('NATS_TLS_CA_FILE')).toBe(false);
  });

  it('mounts the database password as a file when asked, so a rotation needs no restart', () => {
    const r = helmTemplate({
      release: 'demo',
      valueFiles: ['ci/default-values.yaml'],
      set: {
        connections: {
          existingSecret: '',
          nats: { url: 'nats://nats.messaging:4222' },
          redis: { url: 'redis://r:6379' },
          database: {
            url: 'postgres://tl@pg:5432/tl?sslmode=verify-full',
            passwordSecret: { name: '{{ .Release.Name }}-pg', key: 'password', asFile: true },
          },
        },
      },
    });
    const jobs = r.objects.filter((o) => o.kind === 'Job');
    const users = [
      ...['config', 'state', 'writer'].map((s) => r.byName.get(`Deployment/demo-throughline-${s}`)!),
      ...jobs,
    ];
    expect(users.length).toBeGreaterThanOrEqual(3);
    for (const w of users) {
      const pod = podSpecOf(w);
      const env = envOf(pod.containers[0]!);
      expect(env.get('DATABASE_URL')?.value).toBe('postgres://tl@pg:5432/tl?sslmode=verify-full');
      expect(env.get('DATABASE_PASSWORD_FILE')?.value).toBe('/etc/throughline/database/password');
      expect(env.has('TL_DATABASE_PASSWORD')).toBe(false);
      expect(pod.volumes).toContainEqual({
        name: 'database-password',
        secret: { secretName: 'demo-pg', items: [{ key: 'password', path: 'password' }], defaultMode: 0o440 },
      });
      expect(pod.containers[0]!.volumeMounts).toContainEqual({
        name: 'database-password',
        mountPath: '/etc/throughline/database',
        readOnly: true,
      });
    }
    for (const s of ['ingest', 'enrich']) {
      const pod = podSpecOf(r.byName.get(`Deployment/demo-throughline-${s}`)!);
      expect(JSON.stringify(pod.volumes ?? [])).not.toContain('database-password');
    }
    expect(checkAll(r)).toEqual([]);
    expect(r.objects.flatMap(validateObject)).toEqual([]);
  });
});

describe('least-privilege database roles', () => {
  const withRoles = (database: Record<string, unknown>) =>
    helmTemplate({
      release: 'demo',
      valueFiles: ['ci/default-values.yaml'],
      set: {
        connections: {
          existingSecret: '',
          nats: { url: 'nats://nats.messaging:4222' },
          redis: { url: 'redis://r:6379' },
          database: {
            url: 'postgres://owner:$(TL_DATABASE_PASSWORD)@pg:5432/tl?sslmode=verify-full',
            passwordSecret: { name: '{{ .Release.Name }}-pg-owner', key: 'password' },
            ...database,
          },
        },
      },
    });

  it("gives each service its own role and only that role's password; the Job alone holds the owner's", () => {
    const r = withRoles({ roles: { enabled: true, passwordsSecret: '{{ .Release.Name }}-pg-roles' } });
    const pods: [string, ReturnType<typeof podSpecOf>][] = [
      ...['config', 'state', 'writer'].map(
        (s) =>
          [s, podSpecOf(r.byName.get(`Deployment/demo-throughline-${s}`)!)] as [
            string,
            ReturnType<typeof podSpecOf>,
          ],
      ),
      [
        'reader',
        podSpecOf(
          r.objects.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test')!,
        ),
      ],
    ];
    for (const [role, pod] of pods) {
      const env = envOf(pod.containers[0]!);
      expect(env.get('DATABASE_URL')?.value, role).toBe('postgres://owner@pg:5432/tl?sslmode=verify-full');
      expect(env.get('DATABASE_USER')?.value, role).toBe(`throughline_${role}`);
      expect(env.get('DATABASE_PASSWORD_FILE')?.value, role).toBe('/etc/throughline/database-role/password');
      expect(env.get('DATABASE_MIGRATE')?.value, role).toBe('off');
      expect(env.has('TL_DATABASE_PASSWORD'), role).toBe(false);
      expect(JSON.stringify(pod), role).not.toContain('pg-owner');
      expect(pod.volumes).toContainEqual({
        name: 'database-role',
        secret: { secretName: 'demo-pg-roles', items: [{ key: role, path: 'password' }], defaultMode: 0o440 },
      });
      expect(pod.containers[0]!.volumeMounts).toContainEqual({
        name: 'database-role',
        mountPath: '/etc/throughline/database-role',
        readOnly: true,
      });
    }
    for (const s of ['ingest', 'enrich'])
      expect(JSON.stringify(podSpecOf(r.byName.get(`Deployment/demo-throughline-${s}`)!))).not.toContain(
        'database',
      );

    const job = podSpecOf(r.objects.find((o) => o.kind === 'Job')!);
    const jobEnv = envOf(job.containers[0]!);
    expect(jobEnv.get('MIGRATE_ONLY')?.value).toBe('true');
    expect(jobEnv.get('TL_DATABASE_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({
      name: 'demo-pg-owner',
      key: 'password',
    });
    expect(jobEnv.get('DATABASE_ROLES_PREFIX')?.value).toBe('throughline');
    expect(jobEnv.get('DATABASE_ROLE_PASSWORDS_DIR')?.value).toBe('/etc/throughline/database-roles');
    expect(jobEnv.has('DATABASE_USER')).toBe(false);
    expect(job.volumes).toContainEqual({
      name: 'database-roles',
      secret: { secretName: 'demo-pg-roles', defaultMode: 0o440 },
    });
    expect(checkAll(r)).toEqual([]);
    expect(r.objects.flatMap(validateObject)).toEqual([]);
  });

  it('takes a URL of its own for the services, and refuses one holding a password or no passwords Secret', () => {
    const r = withRoles({
      existingSecret: 'owner-url',
      roles: {
        enabled: true,
        prefix: 'ledger',
        url: 'postgres://pg.db:5432/{{ .Release.Name }}',
        passwordsSecret: 'roles',
      },
    });
    const env = envOf(podSpecOf(r.byName.get('Deployment/demo-throughline-writer')!).containers[0]!);
    expect(env.get('DATABASE_URL')?.value).toBe('postgres://pg.db:5432/demo');
    expect(env.get('DATABASE_USER')?.value).toBe('ledger_writer');
    expect(() =>
      withRoles({ roles: { enabled: true, url: 'postgres://u:secret@pg/tl', passwordsSecret: 'roles' } }),
    ).toThrow(/must hold no password: with roles, each service logs in as its own role/);
    expect(() =>
      withRoles({
        roles: {
          enabled: true,
          url: 'postgres://pg/tl?sslmode=require&password=x',
          passwordsSecret: 'roles',
        },
      }),
    ).toThrow(/must hold no password/);
    expect(() => withRoles({ roles: { enabled: true } })).toThrow(
      /connections.database.roles.passwordsSecret: a Secret/,
    );
    expect(() =>
      withRoles({ roles: { enabled: true, prefix: 'Bad-Prefix', passwordsSecret: 'roles' } }),
    ).toThrow(/prefix/);
    expect(() =>
      helmTemplate({
        valueFiles: ['ci/default-values.yaml'],
        set: { writer: { env: { DATABASE_USER: 'postgres' } } },
      }),
    ).toThrow(/writer.env.DATABASE_USER is set by the chart/);
  });
});

describe('who may change the configuration', () => {
  it('refuses changes by default, mounts an admin tokens Secret on config alone, and names admin certificates', () => {
    const none = envOf(
      podSpecOf(deployment(helmTemplate({ valueFiles: ['ci/default-values.yaml'] }), 'config'))
        .containers[0]!,
    );
    for (const name of ['CONFIG_ADMIN_TOKENS_FILE', 'CONFIG_ADMIN_CLIENTS', 'CONFIG_PUT_OPEN'])
      expect(none.has(name), name).toBe(false);

    const r = helmTemplate({
      valueFiles: ['ci/default-values.yaml'],
      set: {
        grpcTls: { enabled: true, secretName: 'tl-grpc', clientAuth: true },
        config: {
          admin: {
            tokensSecret: { name: '{{ .Release.Name }}-admins', key: 'tokens' },
            clients: ['ops', 'ci'],
          },
        },
      },
    });
    const pod = podSpecOf(deployment(r, 'config'));
    const env = envOf(pod.containers[0]!);
    expect(env.get('CONFIG_ADMIN_TOKENS_FILE')?.value).toBe('/etc/throughline/config-admin/tokens');
    expect(env.get('CONFIG_ADMIN_CLIENTS')?.value).toBe('ops,ci');
    expect(env.has('CONFIG_PUT_OPEN')).toBe(false);
    expect(pod.volumes).toContainEqual({
      name: 'config-admin',
      secret: { secretName: 'tl-admins', items: [{ key: 'tokens', path: 'tokens' }], defaultMode: 0o440 },
    });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({
      name: 'config-admin',
      mountPath: '/etc/throughline/config-admin',
      readOnly: true,
    });
    for (const s of ['ingest', 'enrich', 'state', 'writer'])
      expect(JSON.stringify(podSpecOf(deployment(r, s))), s).not.toMatch(/config-admin|CONFIG_ADMIN/);
    expect(checkAll(r)).toEqual([]);
    expect(r.objects.flatMap(validateObject)).toEqual([]);

    const open = helmTemplate({
      valueFiles: ['ci/default-values.yaml'],
      set: { config: { admin: { open: true } } },
    });
    expect(envOf(podSpecOf(deployment(open, 'config')).containers[0]!).get('CONFIG_PUT_OPEN')?.value).toBe(
      'true',
    );
  });
});

describe('who may publish', () => {
  it('keeps ingest closed by default, opens it only when said, and gives the test pod its client token Secret', () => {
    const closed = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    for (const s of ['ingest', 'enrich', 'state', 'writer', 'config'])
      expect(envOf(podSpecOf(deployment(closed, s)).containers[0]!).has('INGEST_AUTH_OPEN'), s).toBe(false);
    const testPod = (r: ReturnType<typeof helmTemplate>) =>
      podSpecOf(
        r.objects.find((o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test')!,
      );
    expect(JSON.stringify(testPod(closed))).not.toMatch(/ingest-client|INGEST_TOKEN_FILE/);

    const r = helmTemplate({
      valueFiles: ['ci/default-values.yaml'],
      set: {
        ingest: { auth: { open: true } },
        tests: { clientTokenSecret: { name: '{{ .Release.Name }}-smoke', key: 'client-token' } },
      },
    });
    expect(envOf(podSpecOf(deployment(r, 'ingest')).containers[0]!).get('INGEST_AUTH_OPEN')?.value).toBe(
      'true',
    );
    for (const s of ['enrich', 'state', 'writer', 'config'])
      expect(envOf(podSpecOf(deployment(r, s)).containers[0]!).has('INGEST_AUTH_OPEN'), s).toBe(false);
    const pod = testPod(r);
    expect(envOf(pod.containers[0]!).get('INGEST_TOKEN_FILE')?.value).toBe(
      '/etc/throughline/ingest-client/client-token',
    );
    expect(pod.volumes).toContainEqual({
      name: 'ingest-client',
      secret: {
        secretName: 'tl-smoke',
        items: [{ key: 'client-token', path: 'client-token' }],
        defaultMode: 0o440,
      },
    });
    expect(pod.containers[0]!.volumeMounts).toContainEqual({
      name: 'ingest-client',
      mountPath: '/etc/throughline/ingest-client',
      readOnly: true,
    });
    expect(checkAll(r)).toEqual([]);
    expect(r.objects.flatMap(validateObject)).toEqual([]);
  });
});

describe('TLS and credentials for Redis and PostgreSQL', () => {
  it('mounts each Secret where the services read it, on the services that use that connection only', () => {
    const none = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    expect(JSON.stringify(none.objects)).not.toMatch(
      /REDIS_TLS|DATABASE_TLS|REDIS_USERNAME|redis-tls|database-tls/,
    );

    const r = helmTemplate({
      valueFiles: ['ci/default-values.yaml'],
      set: {
        connections: {
          redis: {
            username: 'throughline',
            passwordFile: { secretName: '{{ .Release.Name }}-redis-user', key: 'password' },
            tls: { secretName: 'redis-tls', clientCert: true },
          },
          database: { tls: { secretName: 'pg-tls', clientCert: false } },
        },
      },
    });
    const state = podSpecOf(deployment(r, 'state'));
    const env = envOf(state.containers[0]!);
    expect(env.get('REDIS_USERNAME')?.value).toBe('throughline');
    expect(env.get('REDIS_PASSWORD_FILE')?.value).toBe('/etc/throughline/redis/password');
    expect(env.get('REDIS_TLS_CA_FILE')?.value).toBe('/etc/throughline/redis-tls/ca.crt');
    expect(env.get('REDIS_TLS_CERT_FILE')?.value).toBe('/etc/throughline/redis-tls/tls.crt');
    expect(env.get('REDIS_TLS_KEY_FILE')?.value).toBe('/etc/throughline/redis-tls/tls.key');
    expect(env.get('DATABASE_TLS_CA_FILE')?.value).toBe('/etc/throughline/database-tls/ca.crt');
    expect(env.has('DATABASE_TLS_CERT_FILE')).toBe(false);
    expect(state.volumes).toContainEqual({
      name: 'redis-password',
      secret: {
        secretName: 'tl-redis-user',
        items: [{ key: 'password', path: 'password' }],
        defaultMode: 0o440,
      },
    });
    expect(state.volumes).toContainEqual({
      name: 'redis-tls',
      secret: { secretName: 'redis-tls', defaultMode: 0o440 },
    });
    expect(state.volumes).toContainEqual({
      name: 'database-tls',
      secret: { secretName: 'pg-tls', defaultMode: 0o440 },
    });
    for (const [name, path] of [
      ['redis-password', '/etc/throughline/redis'],
      ['redis-tls', '/etc/throughline/redis-tls'],
      ['database-tls', '/etc/throughline/database-tls'],
    ])
      expect(state.containers[0]!.volumeMounts).toContainEqual({ name, mountPath: path, readOnly: true });
    // PostgreSQL's CA reaches every user of the database (the writer, config, the migration Job, the test pod);
    // Redis' settings only the state service.
    for (const s of ['writer', 'config']) {
      const text = JSON.stringify(podSpecOf(deployment(r, s)));
      expect(text, s).toContain('DATABASE_TLS_CA_FILE');
      expect(text, s).not.toMatch(/REDIS_|redis-tls|redis-password/);
    }
    for (const s of ['ingest', 'enrich'])
      expect(JSON.stringify(podSpecOf(deployment(r, s))), s).not.toMatch(/DATABASE_TLS|REDIS_|-tls"/);
    const job = r.objects.find((o) => o.kind === 'Job')!;
    expect(JSON.stringify(job)).toContain('/etc/throughline/database-tls/ca.crt');
    const testPod = r.objects.find(
      (o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test',
    )!;
    expect(JSON.stringify(testPod)).toContain('/etc/throughline/database-tls/ca.crt');
    expect(checkAll(r)).toEqual([]);
    expect(r.objects.flatMap(validateObject)).toEqual([]);

    expect(() =>
      helmTemplate({
        valueFiles: ['ci/default-values.yaml'],
        set: { connections: { redis: { username: 'u' } } },
      }),
    ).toThrow(/connections.redis.username needs its password/);
  });
});

describe('network policies', () => {
  const policy = (r: Rendered, name: string) => r.byName.get(`NetworkPolicy/tl-throughline-${name}`)!.spec;
  const selector = (name: string) => ({
    podSelector: {
      matchLabels: {
        'app.kubernetes.io/name': 'throughline',
        'app.kubernetes.io/instance': 'tl',
        'app.kubernetes.io/component': name,
      },
    },
  });
  const dns = {
    ports: [
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ],
  };

  it('renders none unless enabled', () => {
    const r = helmTemplate({ valueFiles: ['ci/default-values.yaml'] });
    expect(r.objects.filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });

  it('lets each service accept only what it serves, from whom, and reach only its own dependencies', () => {
    const producers = { namespaceSelector: { matchLabels: { team: 'payments' } } };
    const admins = { namespaceSelector: { matchLabels: { role: 'ops' } } };
    const prometheus = {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
    };
    const natsPeer = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'nats' } } };
    const r = helmTemplate({
      valueFiles: ['ci/default-values.yaml'],
      set: {
        telemetry: { otlpEndpoint: 'http://jaeger-collector.observability:4318' },
        networkPolicy: {
          enabled: true,
          ingestFrom: [producers],
          configFrom: [admins],
          metricsFrom: [prometheus],
          egress: {
            nats: { to: [natsPeer], ports: [4222] },
            redis: { to: [], ports: [6379] },
            database: { to: [], ports: [5432] },
            otlp: { to: [], ports: [4318] },
          },
        },
      },
    });
    const metrics = { ports: [{ protocol: 'TCP', port: 9464 }], from: [prometheus] };
    const nats = { ports: [{ protocol: 'TCP', port: 4222 }], to: [natsPeer] };
    const redis = { ports: [{ protocol: 'TCP', port: 6379 }] };
    const database = { ports: [{ protocol: 'TCP', port: 5432 }] };
    const otlp = { ports: [{ protocol: 'TCP', port: 4318 }] };
    for (const name of ['ingest', 'enrich', 'state', 'writer', 'config'])
      expect(policy(r, name).podSelector, name).toEqual({
        matchLabels: selector(name).podSelector.matchLabels,
      });

    expect(policy(r, 'ingest')).toMatchObject({
      policyTypes: ['Ingress', 'Egress'],
      // The helm test pod may publish too.
      ingress: [metrics, { ports: [{ protocol: 'TCP', port: 50051 }], from: [producers, selector('test')] }],
      egress: [dns, nats, otlp],
    });
    expect(policy(r, 'config')).toMatchObject({
      ingress: [metrics, { ports: [{ protocol: 'TCP', port: 50052 }], from: [selector('enrich'), admins] }],
      egress: [dns, database, otlp],
    });
    expect(policy(r, 'enrich')).toMatchObject({
      ingress: [metrics],
      egress: [dns, nats, otlp, { ports: [{ protocol: 'TCP', port: 50052 }], to: [selector('config')] }],
    });
    expect(policy(r, 'state')).toMatchObject({
      ingress: [metrics],
      egress: [dns, nats, redis, database, otlp],
    });
    expect(policy(r, 'writer')).toMatchObject({ ingress: [metrics], egress: [dns, nats, database, otlp] });
    for (const name of ['ingest', 'enrich', 'state', 'writer', 'config']) {
      // Exactly these rules: nothing more is let in or out.
      expect(policy(r, name).ingress.length, name).toBe(name === 'ingest' || name === 'config' ? 2 : 1);
    }
    expect(policy(r, 'state').egress).toHaveLength(5);
    expect(policy(r, 'writer').egress).toHaveLength(4);
    // The helm test pod carries the labels ingest's rule names.
    const testPod = r.objects.find(
      (o) => o.kind === 'Pod' && o.metadata.annotations?.['helm.sh/hook'] === 'test',
    )!;
    expect(testPod.metadata.labels).toMatchObject(selector('test').podSelector.matchLabels);
    expect(checkAll(r)).toEqual([]);
    expect(r.objects.flatMap(validateObject)).toEqual([]);
  });
});

describe('the invariant checks', () => {
  it('report what a broken chart would render', () => {
    const r = helmTemplate({ valueFiles: ['ci/scaled-values.yaml'] });
    const writer = deployment(r, 'writer');
    const container = podSpecOf(writer).containers[0]!;
    delete (container as { readinessProbe?: unknown }).readinessProbe;
    container.env!.find((e) => e.name === 'LEASE_TTL_MS')!.value = '3000';
    container.env!.push({ name: 'INSTANCE_COUNT', value: '6' });
    container.env!.push({ name: 'DATABASE_URL', value: r.values.connections.database.url });
    container.args = ['deploy/partition-owner.mjs', 'apps/writer/dist/main.js'];
    podSpecOf(writer).automountServiceAccountToken = true;
    writer.spec.selector.matchLabels['app.kubernetes.io/component'] = 'writers';
    expect(checkAll(r)).toEqual(
      expect.arrayContaining([
        'Deployment/tl-throughline-writer: selector does not match its pod labels',
        'Deployment/tl-throughline-writer/writer: readinessProbe missing or not /readyz on a named port',
        'Deployment/tl-throughline-writer: mounts a service account token',
        'Deployment/tl-throughline-writer: contains a secret value',
        'tl-throughline-writer/writer: DATABASE_URL is a plain value',
        'writer: LEASE_TTL_MS 3000 is not leaseTtlMs 5000',
        'writer: not started as apps/writer/dist/main.js',
        'writer: has an instance index or count',
      ]),
    );
  });
});
