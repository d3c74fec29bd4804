/** The id an instance registers under among the live instances of its stage. */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * `INSTANCE_ID` when set, else `<stage>-<host name>`; a random suffix is always added, so a restarted process never
 * takes the registration of its previous run for its own. Only `[A-Za-z0-9_-]` is kept.
 */
export function instanceIdOf(stage: string, env: NodeJS.ProcessEnv): string {
  const base = (env.INSTANCE_ID ?? `${stage}-${env.HOSTNAME ?? hostname()}`).replace(/[^A-Za-z0-9_-]/g, '-');
  return `${base.slice(0, 80)}-${randomBytes(3).toString('hex')}`;
}
