/**
 * The environment a rendered container gets in its pod, worked out the way the kubelet does: plain values with
 * `$(VAR)` expanded from the variables before them, the downward API's fields from the pod, and Secret keys from
 * the Secrets the chart rendered. So a test can start a service exactly as the chart configures it.
 */
import type { K8sObject, Rendered } from './helm.js';
import { podSpecOf, type Container } from './invariants.js';

export interface Pod {
  name: string;
  namespace: string;
  nodeName: string;
}

/** stringData of every Secret the chart rendered, by "name/key". */
function secretValues(r: Rendered): Map<string, string> {
  const values = new Map<string, string>();
  for (const s of r.objects.filter((o: K8sObject) => o.kind === 'Secret'))
    for (const [key, value] of Object.entries<string>(s.stringData ?? {}))
      values.set(`${s.metadata.name}/${key}`, value);
  return values;
}

export function podEnv(r: Rendered, container: Container, pod: Pod): Record<string, string> {
  const secrets = secretValues(r);
  const fields: Record<string, string> = {
    'metadata.name': pod.name,
    'metadata.namespace': pod.namespace,
    'spec.nodeName': pod.nodeName,
  };
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (ref) {
      const value = secrets.get(`${ref.name}/${ref.key}`);
      if (value === undefined)
        throw new Error(`${e.name}: Secret ${ref.name} key ${ref.key} was not rendered`);
      env[e.name] = value;
    } else if (field) {
      const value = fields[field];
      if (value === undefined) throw new Error(`${e.name}: no value for field ${field}`);
      env[e.name] = value;
    } else {
      // Kubernetes leaves a reference to an undefined variable as it is.
      env[e.name] = (e.value ?? '').replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (ref, name: string) => env[name] ?? ref,
      );
    }
  }
  return env;
}

/** The first container of a rendered Deployment. */
export const containerOf = (deployment: K8sObject): Container => podSpecOf(deployment).containers[0]!;
