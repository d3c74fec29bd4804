/**
 * The image's build steps without Docker: deploy/docker/build-artifacts.sh lays out the runtime tree (dist + prod
 * node_modules; global-setup.ts runs it after turbo built the apps, which this package depends on), and the
 * services start from it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
    expect(existsSync(path.join(out, 'deploy/smoke-test.mjs'))).toBe(true);
    // The stages share partitions through leases: no wrapper deriving an index from a StatefulSet pod name.
    expect(existsSync(path.join(out, 'deploy/partition-owner.mjs'))).toBe(false);
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
        LEASE_TTL_MS: '10',
        LOG_LEVEL: 'loud',
      });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain(`${name}: invalid configuration:`);
      expect(run.stderr).toContain('LOG_LEVEL');
      // Every service on NATS reads the lease time to live (the chart sets it in each); config is not on NATS.
      if (name !== 'config') expect(run.stderr).toContain('LEASE_TTL_MS');
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

  it('a stage refuses a static assignment whose index is not below its count, before it connects', () => {
    const run = runNode(['apps/enrich/dist/main.js'], {
      PARTITION_ASSIGNMENT: 'static',
      INSTANCE_INDEX: '3',
      INSTANCE_COUNT: '2',
    });
    expect(run.status).toBe(2);
    expect(run.stdout + run.stderr).toContain('INSTANCE_INDEX (3) must be below INSTANCE_COUNT (2)');
  });

  it('smoke-test.mjs loads the services’ client libraries from the tree', () => {
    const run = runNode(['deploy/smoke-test.mjs'], {});
    expect(run.stderr).toBe('smoke test failed: INGEST_ADDRESS is required\n');
  });
});
