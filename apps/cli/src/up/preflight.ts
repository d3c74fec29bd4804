/** Before starting anything: are the servers the stack needs reachable? */
import { connect } from 'node:net';
import { CliError } from '../errors.js';

export interface Dependency {
  /** What it is, for messages (`NATS`). */
  name: string;
  url: string;
  defaultPort: number;
  /** Where the URL came from, for messages (`--nats-url / NATS_URL`). */
  setting: string;
  hint: string;
}

function endpoint(dep: Dependency): { host: string; port: number } {
  const first = dep.url.split(',')[0]!.trim();
  const u = new URL(first);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : dep.defaultPort,
  };
}

/** Opens and closes a TCP connection; resolves with what went wrong, or undefined when it connected. */
export function probe(host: string, port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (problem: string | undefined): void => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs / 1000} s`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

/** Fails with one line naming the first dependency that cannot be reached and how to fix it. */
export async function checkReachable(deps: readonly Dependency[], timeoutMs = 3000): Promise<void> {
  const problems = await Promise.all(
    deps.map(async (dep) => {
      const { host, port } = endpoint(dep);
      const problem = await probe(host, port, timeoutMs);
      return problem
        ? `cannot reach ${dep.name} at ${host}:${port} (${problem}): ${dep.hint}, or set ${dep.setting}`
        : undefined;
    }),
  );
  const first = problems.find((p) => p !== undefined);
  if (first) throw new CliError(first);
}
