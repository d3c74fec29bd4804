/**
 * Real Helm, run on the chart: `helm template` returns every rendered object (with the values Helm coalesced, for
 * the invariant checks), `helm lint --strict` its verdict. Helm validates the values against values.schema.json
 * itself, so its messages are the ones the tests assert on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';
import { helmCacheDir, helmPath } from './helm-binary.js';

export const helmDir = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const chartDir = path.join(helmDir, 'throughline');
export const stackDir = path.join(helmDir, 'throughline-stack');
export const repoRoot = path.resolve(helmDir, '../..');

/** A Kubernetes object as the API server would receive it. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  [key: string]: any;
}

export interface Rendered {
  /** The chart's values.yaml with the value files and `set` applied, as Helm coalesces them. */
  values: Record<string, any>;
  objects: K8sObject[];
  /** Objects by "Kind/name". */
  byName: Map<string, K8sObject>;
}

export interface RenderOptions {
  /** The chart directory (default: the throughline chart). */
  chart?: string;
  /** Value files relative to the chart directory (like `-f ci/keda-values.yaml`), later ones win. */
  valueFiles?: string[];
  /** Values applied last (`--set-json`, one per leaf, so maps merge with the value files; null removes a key). */
  set?: Record<string, unknown>;
  release?: string;
  namespace?: string;
  /** The cluster's version (`--kube-version`); Helm's default is its own client version. */
  kubeVersion?: string;
}

/** `helm template` or `helm lint` failed: its message (schema violation, template error) is Helm's stderr. */
export class HelmError extends Error {
  override name = 'HelmError';
}

/** Runs helm with its home directories in the test cache, so no user or CI configuration leaks in or out. */
export function helm(
  args: string[],
  cwd: string = helmDir,
): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(helmPath))
    throw new Error(`${helmPath} is missing: run the tests with vitest, whose global setup unpacks Helm`);
  const run = spawnSync(helmPath, args, {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: {
      PATH: process.env.PATH ?? '',
      HELM_CACHE_HOME: path.join(helmCacheDir, 'home/cache'),
      HELM_CONFIG_HOME: path.join(helmCacheDir, 'home/config'),
      HELM_DATA_HOME: path.join(helmCacheDir, 'home/data'),
      // Nothing the tests run talks to a cluster; an empty kubeconfig makes sure of it.
      KUBECONFIG: '/dev/null',
    },
  });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Renders a chart like `helm template <release> <chart> -n <namespace> -f ... --set-json ...`. */
export function helmTemplate(opts: RenderOptions = {}): Rendered {
  const chart = opts.chart ?? chartDir;
  const args = ['template', opts.release ?? 'tl', chart, '-n', opts.namespace ?? 'pipeline'];
  if (opts.kubeVersion) args.push('--kube-version', opts.kubeVersion);
  for (const f of opts.valueFiles ?? []) args.push('-f', path.join(chart, f));
  for (const [key, value] of leaves(opts.set ?? {}))
    args.push('--set-json', `${key}=${JSON.stringify(value)}`);
  const run = helm(args);
  if (run.status !== 0) throw new HelmError(run.stderr.trim());
  const objects = parseAllDocuments(run.stdout)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
  const byName = new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  return { values: coalescedValues(chart, opts), objects, byName };
}

/** `helm lint --strict <chart> -f <file>`: warnings fail too. Returns Helm's report. */
export function helmLint(chart: string, valueFiles: string[] = []): { ok: boolean; report: string } {
  const run = helm(['lint', '--strict', chart, ...valueFiles.flatMap((f) => ['-f', path.join(chart, f)])]);
  return { ok: run.status === 0, report: `${run.stdout}${run.stderr}`.trim() };
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's coalescing of user values over defaults: maps merge, anything else replaces, null deletes. */
export function coalesce(base: Record<string, any>, override: Record<string, unknown>): Record<string, any> {
  const out: Record<string, any> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete out[key];
    else if (isMap(value) && isMap(out[key])) out[key] = coalesce(out[key], value);
    else out[key] = value;
  }
  return out;
}

/**
 * Dotted paths (dots in keys escaped, as --set reads them) to the non-map values of `values`: `--set-json a={..}`
 * would replace all of `a` from the value files, where a value file would merge into it.
 */
function leaves(values: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.entries(values).flatMap(([key, value]) => {
    const dotted = `${prefix}${key.replaceAll('.', '\\.')}`;
    return isMap(value) && Object.keys(value).length > 0 ? leaves(value, `${dotted}.`) : [[dotted, value]];
  });
}

function coalescedValues(chart: string, opts: RenderOptions): Record<string, any> {
  const read = (file: string) =>
    (parse(readFileSync(path.join(chart, file), 'utf8')) ?? {}) as Record<string, any>;
  let values = read('values.yaml');
  for (const f of opts.valueFiles ?? []) values = coalesce(values, read(f));
  return coalesce(values, opts.set ?? {});
}

/** Sets `value` at a dotted path in a fresh nested object: at('writer.replicas', 4) = { writer: { replicas: 4 } }. */
export function at(dotted: string, value: unknown): Record<string, unknown> {
  return dotted
    .split('.')
    .reverse()
    .reduce<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}
