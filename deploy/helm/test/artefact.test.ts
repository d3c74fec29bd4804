/**
 * The image's build steps without Docker: deploy/docker/build-artifacts.sh lays out the runtime tree (dist + prod
 * node_modules; global-setup.ts runs it after turbo built the apps, which this package depends on), and the
 * services start from it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';

const SERVICES = ['ingest', 'enrich', 'state', 'writer', 'config'];
const out = inject('runtimeDir');
const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Runs `node <args>` from the runtime tree with only the given environment (plus PATH). */
function runNode(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, args, {
    cwd: out,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('deploy/docker/build-artifacts.sh', () => {
  it('lays out every service with production dependencies only', () => {
    for (const name of SERVICES)
      expect(existsSync(path.join(out, `apps/${name}/dist/main.js`)), name).toBe(true);
    expect(existsSync(path.join(out, 'deploy/partition-owner.mjs'))).toBe(true);
    expect(existsSync(path.join(out, 'deploy/smoke-test.mjs'))).toBe(true);
    for (const dev of ['typescript', 'vitest', 'eslint', 'ts-proto', '@bufbuild/buf']) {
      expect(existsSync(path.join(out, 'node_modules', dev)), dev).toBe(false);
    }
    expect(existsSync(path.join(out, 'packages/testkit/dist')), 'testkit is for tests only').toBe(false);
  });

  it.each(SERVICES)(
    '%s starts from the tree and stops on a bad setting with the validation message',
    (name) => {
      const run = runNode([`apps/${name}/dist/main.js`], {
        PG_POOL_SIZE: 'many',
        PARTITION_COUNT: '0',
        LOG_LEVEL: 'loud',
      });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`${name}: invalid configuration:`);
      expect(run.stderr).toContain('LOG_LEVEL');
    },
  );

  it('the writer refuses more commits in flight than it has connections', () => {
    const run = runNode(['apps/writer/dist/main.js'], { PG_POOL_SIZE: '2', WRITER_COMMITS_IN_FLIGHT: '3' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('WRITER_COMMITS_IN_FLIGHT must not exceed PG_POOL_SIZE');
  });

  it("the image's entrypoint runs node with the services' flags", () => {
    const dockerfile = readFileSync(path.join(REPO_ROOT, 'deploy/docker/Dockerfile'), 'utf8');
    const entrypoint = /^ENTRYPOINT (.+)$/m.exec(dockerfile)?.[1];
    expect(JSON.parse(entrypoint ?? 'null')).toEqual(['node', ...SERVICE_NODE_FLAGS]);
    // And the services start with them (V8 accepts the flags).
    const run = runNode([...SERVICE_NODE_FLAGS, 'apps/writer/dist/main.js'], { LOG_LEVEL: 'loud' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('writer: invalid configuration:');
  });

  it('partition-owner.mjs takes the instance index from the pod name', () => {
    const run = runNode(['deploy/partition-owner.mjs', 'apps/writer/dist/main.js'], {
      POD_NAME: 'tl-throughline-writer-3',
      INSTANCE_COUNT: '2',
    });
    expect(run.status).toBe(2);
    expect(run.stdout + run.stderr).toContain('INSTANCE_INDEX (3) must be below INSTANCE_COUNT (2)');
    const bad = runNode(['deploy/partition-owner.mjs', 'apps/writer/dist/main.js'], { POD_NAME: 'writer' });
    expect(bad.stdout).toContain('does not end with a StatefulSet ordinal');
  });

  it('smoke-test.mjs loads the services’ client libraries from the tree', () => {
    const run = runNode(['deploy/smoke-test.mjs'], {});
    expect(run.stderr).toBe('smoke test failed: INGEST_ADDRESS is required\n');
  });
});

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function probe(port: number, urlPath: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: urlPath }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
      .on('error', reject);
  });
}

describe('partition-owner.mjs with INSTANCE_COUNT_SOURCE=statefulset', () => {
  it('follows the StatefulSet replica count, draining before it restarts with the new count', async () => {
    let replicas = 2;
    const api = http.createServer((req, res) => {
      expect(req.url).toBe('/apis/apps/v1/namespaces/pipeline/statefulsets/tl-writer');
      expect(req.headers.authorization).toBe('Bearer test-token');
      res.end(JSON.stringify({ spec: { replicas } }));
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const probePort = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-owner-'));
    writeFileSync(path.join(dir, 'token'), 'test-token\n');
    // A stand-in service: prints its ownership, and drains for 200 ms on SIGTERM.
    writeFileSync(
      path.join(dir, 'service.mjs'),
      `console.log('start ' + process.env.INSTANCE_INDEX + '/' + process.env.INSTANCE_COUNT);
       process.on('SIGTERM', () => setTimeout(() => { console.log('stopped ' + process.env.INSTANCE_COUNT); process.exit(0); }, 200));
       setInterval(() => {}, 1000);`,
    );
    const child = spawn(
      process.execPath,
      [path.join(out, 'deploy/partition-owner.mjs'), path.join(dir, 'service.mjs')],
      {
        env: {
          PATH: process.env.PATH ?? '',
          POD_NAME: 'tl-writer-1',
          POD_NAMESPACE: 'pipeline',
          INSTANCE_COUNT_SOURCE: 'statefulset',
          K8S_API_URL: `http://127.0.0.1:${(api.address() as AddressInfo).port}`,
          K8S_TOKEN_FILE: path.join(dir, 'token'),
          INSTANCE_COUNT_POLL_MS: '100',
          INSTANCE_FENCE_MS: '1000',
          SHUTDOWN_TIMEOUT_MS: '2000',
          HTTP_ADDRESS: `127.0.0.1:${probePort}`,
        },
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const waitFor = async (text: string) => {
      for (let i = 0; i < 100 && !output.includes(text); i++) await new Promise((r) => setTimeout(r, 50));
      expect(output).toContain(text);
    };
    try {
      await waitFor('waiting for instances with another count to drain');
      // While it waits, the wrapper answers the probes: alive, not ready.
      expect(await probe(probePort, '/healthz')).toBe(200);
      expect(await probe(probePort, '/readyz')).toBe(503);
      await waitFor('start 1/2');
      replicas = 4;
      await waitFor('start 1/4');
      const lines = output.split('\n').filter((l) => /^(start|stopped)/.test(l));
      // The old instance stopped before the new one started: never two owners of a partition in this process.
      expect(lines).toEqual(['start 1/2', 'stopped 2', 'start 1/4']);
      replicas = 1;
      await waitFor('beyond the replica count');
      child.kill('SIGTERM');
      const code = await new Promise((resolve) => child.on('exit', resolve));
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
      api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
