/** Checks every rendering of the chart must pass, whatever the values. Each returns a list of problems. */
import type { K8sObject, Rendered } from './helm.js';

/** The stages: partition owners, sharing their partitions through leases. */
export const STAGES = ['enrich', 'state', 'writer'] as const;
export const SERVICES = ['ingest', 'enrich', 'state', 'writer', 'config'] as const;

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
export interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, any>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string }[];
}

export const workloads = (r: Rendered): K8sObject[] => r.objects.filter((o) => o.kind === 'Deployment');

export function podSpecOf(o: K8sObject): { containers: Container[]; [key: string]: any } {
  return o.kind === 'Pod' ? o.spec : o.spec.template.spec;
}

export function envOf(c: Container): Map<string, EnvVar> {
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}

export const componentOf = (o: K8sObject): string | undefined =>
  o.metadata.labels?.['app.kubernetes.io/component'];

const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Selectors of workloads, Services, PDBs and ServiceMonitors select the pods (or Services) they are meant to. */
export function checkSelectors(r: Rendered): string[] {
  const problems: string[] = [];
  const pods = workloads(r).map((w) => ({
    w,
    labels: w.spec.template.metadata.labels as Record<string, string>,
  }));
  for (const { w, labels } of pods) {
    if (!matches(w.spec.selector.matchLabels, labels))
      problems.push(`${w.kind}/${w.metadata.name}: selector does not match its pod labels`);
  }
  const selecting = (selector: Record<string, string>) => pods.filter((p) => matches(selector, p.labels));
  for (const o of r.objects) {
    const selector =
      o.kind === 'Service'
        ? o.spec.selector
        : o.kind === 'PodDisruptionBudget'
          ? o.spec.selector.matchLabels
          : undefined;
    if (selector && selecting(selector).length !== 1)
      problems.push(`${o.kind}/${o.metadata.name}: selects ${selecting(selector).length} workloads`);
    if (o.kind === 'ServiceMonitor') {
      const services = r.objects.filter(
        (s) => s.kind === 'Service' && matches(o.spec.selector.matchLabels, s.metadata.labels),
      );
      if (services.length !== 1 || !services[0]!.spec.ports.some((p: { name: string }) => p.name === 'http'))
        problems.push(`ServiceMonitor/${o.metadata.name}: does not select one Service with an http port`);
    }
    const target =
      o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject' ? o.spec.scaleTargetRef : undefined;
    if (target && !r.byName.has(`${target.kind}/${target.name}`))
      problems.push(`${o.kind}/${o.metadata.name}: target ${target.kind}/${target.name} missing`);
  }
  return problems;
}

/** Every container: resources, hardened securityContext, /tmp mounted; service containers: the three probes. */
export function checkContainers(r: Rendered): string[] {
  const problems: string[] = [];
  for (const o of r.objects.filter((x) => ['Deployment', 'Job', 'Pod'].includes(x.kind))) {
    const spec = podSpecOf(o);
    if (spec.automountServiceAccountToken !== false)
      problems.push(`${o.kind}/${o.metadata.name}: mounts a service account token`);
    if (spec.securityContext?.runAsNonRoot !== true)
      problems.push(`${o.metadata.name}: pod runAsNonRoot is not set`);
    for (const c of spec.containers) {
      const id = `${o.kind}/${o.metadata.name}/${c.name}`;
      if (envOf(c).size !== (c.env ?? []).length)
        problems.push(`${id}: an environment variable is set twice`);
      if (!c.resources?.requests?.cpu || !c.resources.requests.memory || !c.resources.limits?.memory)
        problems.push(`${id}: resources incomplete`);
      const sc = c.securityContext ?? {};
      if (
        sc.readOnlyRootFilesystem !== true ||
        sc.allowPrivilegeEscalation !== false ||
        !sc.capabilities?.drop?.includes('ALL')
      )
        problems.push(`${id}: securityContext not hardened`);
      if (!c.volumeMounts?.some((m) => m.mountPath === '/tmp')) problems.push(`${id}: /tmp is not writable`);
      if (o.kind !== 'Deployment') continue;
      const ports = new Set((c.ports ?? []).map((p) => p.name));
      for (const [probe, path] of [
        ['livenessProbe', '/healthz'],
        ['readinessProbe', '/readyz'],
        ['startupProbe', '/healthz'],
      ] as const) {
        const get = c[probe]?.httpGet;
        if (!get || get.path !== path || !ports.has(String(get.port)))
          problems.push(`${id}: ${probe} missing or not ${path} on a named port`);
      }
      const drainMs = Number(envOf(c).get('SHUTDOWN_TIMEOUT_MS')?.value);
      if (!(spec.terminationGracePeriodSeconds * 1000 > drainMs))
        problems.push(`${id}: terminationGracePeriodSeconds not above the drain time`);
    }
  }
  return problems;
}

/** No secret (connection URLs given as values, Secret data) appears in a ConfigMap, a plain env value or a label. */
export function checkSecretsStayInSecrets(r: Rendered): string[] {
  const secrets = new Set<string>();
  for (const conn of ['nats', 'redis', 'database']) {
    const c = r.values.connections?.[conn];
    // A URL beside a passwordSecret holds a $(TL_..._PASSWORD) reference, not the password: it is a plain value.
    if (c?.url && !c.passwordSecret?.name) secrets.add(c.url as string);
  }
  for (const s of r.objects.filter((o) => o.kind === 'Secret')) {
    for (const v of Object.values<string>(s.stringData ?? {})) secrets.add(v);
    for (const v of Object.values<string>(s.data ?? {})) secrets.add(Buffer.from(v, 'base64').toString());
  }
  const problems: string[] = [];
  for (const o of r.objects.filter((x) => x.kind !== 'Secret')) {
    const text = JSON.stringify(o);
    for (const secret of secrets)
      if (text.includes(secret)) problems.push(`${o.kind}/${o.metadata.name}: contains a secret value`);
  }
  for (const o of r.objects.filter((x) => ['Deployment', 'Job', 'Pod'].includes(x.kind))) {
    for (const c of podSpecOf(o).containers) {
      for (const name of ['NATS_URL', 'REDIS_URL', 'DATABASE_URL']) {
        const e = envOf(c).get(name);
        if (
          e &&
          !e.valueFrom?.secretKeyRef &&
          !/\$\([A-Z_]+\)/.test(e.value ?? '') &&
          !(name === 'DATABASE_URL' && envOf(c).has('DATABASE_PASSWORD_FILE')) &&
          !/^nats:\/\/[^@]*$/.test(e.value ?? '')
        )
          problems.push(`${o.metadata.name}/${c.name}: ${name} is a plain value`);
      }
    }
  }
  return problems;
}

/**
 * Partition ownership by leases: every service on NATS has PARTITION_COUNT and the same LEASE_TTL_MS (the lease
 * bucket's time to live); a stage shares its partitions (balanced assignment, no index or count), names its
 * instance after the pod, runs plain `node apps/<stage>/dist/main.js`, and never more replicas than partitions.
 * Nothing reads the Kubernetes API, so there is no Role.
 */
export function checkPartitionOwnership(r: Rendered): string[] {
  const problems: string[] = [];
  const p = String(r.values.partitionCount);
  const ttl = String(r.values.leaseTtlMs);
  for (const w of workloads(r)) {
    const name = componentOf(w)!;
    const container = podSpecOf(w).containers[0]!;
    const env = envOf(container);
    if (name !== 'config' && env.get('PARTITION_COUNT')?.value !== p)
      problems.push(`${name}: PARTITION_COUNT is not ${p}`);
    if (name !== 'config' && env.get('LEASE_TTL_MS')?.value !== ttl)
      problems.push(`${name}: LEASE_TTL_MS ${env.get('LEASE_TTL_MS')?.value} is not leaseTtlMs ${ttl}`);
    if (JSON.stringify(container.args) !== JSON.stringify([`apps/${name}/dist/main.js`]))
      problems.push(`${name}: not started as apps/${name}/dist/main.js`);
    if (!(STAGES as readonly string[]).includes(name)) continue;
    if (env.get('PARTITION_ASSIGNMENT')?.value !== 'balanced')
      problems.push(`${name}: PARTITION_ASSIGNMENT is not balanced`);
    if (env.has('INSTANCE_INDEX') || env.has('INSTANCE_COUNT'))
      problems.push(`${name}: has an instance index or count`);
    if (env.get('INSTANCE_ID')?.valueFrom?.fieldRef?.fieldPath !== 'metadata.name')
      problems.push(`${name}: INSTANCE_ID is not the pod name`);
    if ((w.spec.replicas ?? 0) > Number(p)) problems.push(`${name}: more replicas than partitions`);
  }
  for (const o of r.objects.filter((x) =>
    ['Role', 'ClusterRole', 'RoleBinding', 'StatefulSet'].includes(x.kind),
  ))
    problems.push(`${o.kind}/${o.metadata.name}: not needed by lease-based ownership`);
  return problems;
}

export function checkAll(r: Rendered): string[] {
  return [
    ...checkSelectors(r),
    ...checkContainers(r),
    ...checkSecretsStayInSecrets(r),
    ...checkPartitionOwnership(r),
  ];
}
