/** Where each service's built entry point is. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { App } from './plan.js';

const require = createRequire(import.meta.url);

/** Raised when a service is not installed or not built. */
export class MissingServiceError extends Error {
  override readonly name = 'MissingServiceError';
}

/**
 * The built entry point of `app`: in this workspace, or under `root` (`<root>/apps/<app>/dist/main.js`, another
 * checkout, such as the build a benchmark compares with).
 */
export function mainOf(app: App, root?: string): string {
  let main: string;
  if (root !== undefined) main = join(root, 'apps', app, 'dist', 'main.js');
  else {
    try {
      main = join(dirname(require.resolve(`@throughline/${app}/package.json`)), 'dist', 'main.js');
    } catch (err) {
      throw new MissingServiceError(
        `the ${app} service is not installed: run \`pnpm install && pnpm build\` in the repository`,
        { cause: err },
      );
    }
  }
  if (!existsSync(main))
    throw new MissingServiceError(`the ${app} service is not built (${main} is missing): run \`pnpm build\``);
  return main;
}
