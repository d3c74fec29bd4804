/** Checks every rendering of the chart must pass, whatever the values. Each returns a list of problems. */
import type { K8sObject, Rendered } from './helm.js';

export const PARTITION_OWNERS = ['enrich', 'state', 'writer'] as const;
export const SERVICES = ['ingest', 'enrich', 'state', 'writer', 'config'] as const;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: unknown };
}
interface Container {
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

export const workloads = (r: Rendered): K8sObject[] =>
  r.objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet');

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
    if (w.kind === 'StatefulSet' && !r.byName.has(`Service/${w.spec.serviceName}`))
      problems.push(`${w.metadata.name}: serviceName ${w.spec.serviceName} does not exist`);
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
  for (const o of r.objects.filter((x) => ['Deployment', 'StatefulSet', 'Job', 'Pod'].includes(x.kind))) {
    const spec = podSpecOf(o);
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
      if (o.kind !== 'Deployment' && o.kind !== 'StatefulSet') continue;
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
    const url = r.values.connections?.[conn]?.url as string | undefined;
    if (url) secrets.add(url);
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
  for (const o of r.objects.filter((x) => ['Deployment', 'StatefulSet', 'Job', 'Pod'].includes(x.kind))) {
    for (const c of podSpecOf(o).containers) {
      for (const name of ['NATS_URL', 'REDIS_URL', 'DATABASE_URL']) {
        const e = envOf(c).get(name);
        if (
          e &&
          !e.valueFrom?.secretKeyRef &&
          !/\$\([A-Z_]+\)/.test(e.value ?? '') &&
          !/^nats:\/\/[^@]*$/.test(e.value ?? '')
        )
          problems.push(`${o.metadata.name}/${c.name}: ${name} is a plain value`);
      }
    }
  }
  return problems;
}

/** Partition ownership: PARTITION_COUNT everywhere, INSTANCE_COUNT = replicas (or read live when autoscaled). */
export function checkPartitionOwnership(r: Rendered): string[] {
  const problems: string[] = [];
  const p = String(r.values.partitionCount);
  for (const w of workloads(r)) {
    const name = componentOf(w)!;
    const env = envOf(podSpecOf(w).containers[0]!);
    if (name !== 'config' && env.get('PARTITION_COUNT')?.value !== p)
      problems.push(`${name}: PARTITION_COUNT is not ${p}`);
    if (w.kind !== 'StatefulSet') continue;
    const auto = r.values[name].autoscaling.mode !== 'none';
    if (
      !auto &&
      (env.get('INSTANCE_COUNT')?.value !== String(w.spec.replicas) ||
        env.get('INSTANCE_COUNT_SOURCE')?.value !== 'env')
    )
      problems.push(
        `${name}: INSTANCE_COUNT ${env.get('INSTANCE_COUNT')?.value} != replicas ${w.spec.replicas}`,
      );
    if (auto) {
      const role = r.objects.find((o) => o.kind === 'Role');
      if (
        env.get('INSTANCE_COUNT_SOURCE')?.value !== 'statefulset' ||
        env.get('STATEFULSET_NAME')?.value !== w.metadata.name
      )
        problems.push(`${name}: autoscaled but INSTANCE_COUNT is not read from the StatefulSet`);
      if (!role?.rules?.[0]?.resourceNames?.includes(w.metadata.name))
        problems.push(`${name}: no Role lets it read its StatefulSet`);
      if (podSpecOf(w).automountServiceAccountToken !== true)
        problems.push(`${name}: no service account token to read the API`);
    }
    if ((w.spec.replicas ?? 0) > Number(p)) problems.push(`${name}: more replicas than partitions`);
    if (!String(podSpecOf(w).containers[0]!.args).includes('partition-owner.mjs'))
      problems.push(`${name}: not started by partition-owner.mjs`);
  }
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
