/**
 * `helm template` without Helm: builds helm-render (Go text/template + sprig + Helm's functions, from Debian's Go
 * packages) once, validates the coalesced values against values.schema.json as Helm does before rendering, and
 * returns every rendered object.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject } from 'ajv';

export const helmDir = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const chartDir = path.join(helmDir, 'throughline');
export const repoRoot = path.resolve(helmDir, '../..');

/** A Kubernetes object as the API server would receive it (YAML converted to JSON by sigs.k8s.io/yaml). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  [key: string]: any;
}

export interface Rendered {
  values: Record<string, any>;
  objects: K8sObject[];
  /** Objects by "Kind/name". */
  byName: Map<string, K8sObject>;
  notes: string;
}

export interface RenderOptions {
  /** Value files relative to the chart directory (like `-f ci/keda-values.yaml`), later ones win. */
  valueFiles?: string[];
  /** Values applied last (like `--set`). */
  set?: Record<string, unknown>;
  release?: string;
  namespace?: string;
  /** The cluster's version, as `helm template --kube-version` takes it (default v1.30.0). */
  kubeVersion?: string;
}

/** Raised when `helm template` would fail: schema violation or template error, with Helm's message. */
export class HelmTemplateError extends Error {
  override name = 'HelmTemplateError';
}

let rendererPath: string | undefined;

/** Builds (or finds in the cache) the helm-render binary. */
export function renderer(): string {
  rendererPath ??= execFileSync(
    path.join(helmDir, 'renderer/build.sh'),
    [path.join(helmDir, 'node_modules/.cache/helm-render')],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  ).trim();
  return rendererPath;
}

const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as object;
const validateValues = new Ajv({ allErrors: true, strict: false }).compile(schema);

function describeSchemaError(e: ErrorObject): string {
  const at = e.instancePath.replace(/^\//, '').replaceAll('/', '.') || '(root)';
  const extra = e.keyword === 'additionalProperties' ? ` '${String(e.params.additionalProperty)}'` : '';
  return `- ${at}: ${e.message ?? e.keyword}${extra}`;
}

/** Renders the chart like `helm template <release> deploy/helm/throughline -f ... --set ...`. */
export function helmTemplate(opts: RenderOptions = {}): Rendered {
  const args = [
    '-chart',
    chartDir,
    '-release',
    opts.release ?? 'tl',
    '-namespace',
    opts.namespace ?? 'pipeline',
  ];
  if (opts.kubeVersion) args.push('-kube-version', opts.kubeVersion);
  for (const f of opts.valueFiles ?? []) args.push('-f', path.join(chartDir, f));
  if (opts.set) args.push('-set-json', JSON.stringify(opts.set));
  const run = spawnSync(renderer(), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0 && run.status !== 1) throw new Error(`helm-render failed: ${run.stderr}`);
  const out = JSON.parse(run.stdout) as {
    values: Record<string, any> | null;
    manifests: { source: string; objects: K8sObject[] }[];
    notes: string;
    error?: string;
  };
  // Helm checks the values against the schema before it renders anything.
  if (out.values && !validateValues(out.values)) {
    const lines = (validateValues.errors ?? []).map(describeSchemaError);
    throw new HelmTemplateError(
      `values don't meet the specifications of the schema(s) in the following chart(s):\nthroughline:\n${lines.join('\n')}`,
    );
  }
  if (out.error) throw new HelmTemplateError(out.error);
  const objects = out.manifests.flatMap((m) => m.objects);
  const byName = new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  return { values: out.values ?? {}, objects, byName, notes: out.notes };
}

/** Sets `value` at a dotted path in a fresh nested object: at('writer.replicas', 4) = { writer: { replicas: 4 } }. */
export function at(dotted: string, value: unknown): Record<string, unknown> {
  return dotted
    .split('.')
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}
