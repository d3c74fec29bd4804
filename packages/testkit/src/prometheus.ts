import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathDirs, requireBinary, searchDescription } from './binaries.js';
import { makeTempDir } from './cleanup.js';
import { ManagedServer, ManagedServerHandle } from './managed-server.js';
import type { ServerHandle, ServerStartOptions } from './server-handle.js';

export interface PrometheusStartOptions extends ServerStartOptions {
  /** `prometheus.yml` as YAML text (global, scrape_configs, rule_files); relative rule files resolve from its dir. */
  config: string;
  /** Files written next to the configuration before the start (e.g. rule files), by name. */
  files?: Record<string, string>;
}

export interface PrometheusHandle extends ServerHandle {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** GET `/api/v1/<path>` and its `data` (throws on a status other than `success`, with Prometheus' error). */
  api<T = unknown>(path: string, params?: Record<string, string>): Promise<T>;
}

class PrometheusServerHandle extends ManagedServerHandle implements PrometheusHandle {
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const query = new URLSearchParams(params).toString();
    const res = await fetch(`${this.url}/api/v1/${path}${query === '' ? '' : `?${query}`}`);
    const body = (await res.json()) as { status: string; data: T; errorType?: string; error?: string };
    if (body.status !== 'success')
      throw new Error(`prometheus ${path} ${query}: ${body.errorType ?? res.status}: ${body.error ?? ''}`);
    return body.data;
  }
}

/**
 * Starts Debian's `prometheus` on a free port of 127.0.0.1 with `config` and its TSDB in a fresh temp dir. Ready
 * once `/-/ready` answers 200 (the configuration and its rule files loaded).
 */
export async function startPrometheus(opts: PrometheusStartOptions): Promise<PrometheusHandle> {
  const binary = requireBinary(
    'prometheus',
    'apt-get install prometheus',
    opts.binDirs ?? pathDirs(),
    searchDescription(opts.binDirs),
  );
  const dataDir = makeTempDir('throughline-prometheus-');
  const configFile = join(dataDir, 'prometheus.yml');
  writeFileSync(configFile, opts.config);
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dataDir, name), text);
  const server = await ManagedServer.start({
    kind: 'prometheus',
    dataDir,
    stopSignal: 'SIGTERM',
    logger: opts.logger,
    startTimeoutMs: opts.startTimeoutMs,
    stopTimeoutMs: opts.stopTimeoutMs,
    launch: (port) => ({
      command: binary,
      args: [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dataDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        // The Debian package's defaults point at /usr/share/prometheus; the tests need no web console.
        `--web.console.templates=${dataDir}`,
        `--web.console.libraries=${dataDir}`,
      ],
      cwd: dataDir,
    }),
    isReady: async (port) => (await fetch(`http://127.0.0.1:${port}/-/ready`)).status === 200,
  });
  return new PrometheusServerHandle(server);
}
