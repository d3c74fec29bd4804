/**
 * Validation of rendered objects against the Kubernetes OpenAPI schemas (kubernetes-models) and the CRDs the
 * chart uses (KEDA's ScaledObject, prometheus-operator's ServiceMonitor and PrometheusRule).
 */
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Pod, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import type { K8sObject } from './helm.js';

interface Model {
  validate(): void;
}

const models: Record<string, new (data: any) => Model> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Problems of one object: unknown kind, schema errors, invalid names. Empty when it would be accepted. */
export function validateObject(obj: K8sObject): string[] {
  const id = `${obj.kind}/${obj.metadata?.name}`;
  const Model = models[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return [`${id}: no schema for ${obj.apiVersion} ${obj.kind}`];
  const problems: string[] = [];
  try {
    new Model(obj).validate();
  } catch (err) {
    problems.push(`${id}: ${(err as Error).message}`);
  }
  const name = obj.metadata?.name ?? '';
  // Services need DNS labels; Deployment names leave room for their ReplicaSets' "-<pod-template-hash>" (63).
  const maxLength = obj.kind === 'Deployment' ? 52 : 63;
  const pattern = obj.kind === 'Service' || obj.kind === 'Deployment' ? DNS_LABEL : DNS_SUBDOMAIN;
  if (!pattern.test(name) || name.length > maxLength)
    problems.push(`${id}: invalid name (${name.length} characters)`);
  return problems;
}
