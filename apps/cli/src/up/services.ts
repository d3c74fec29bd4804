/** Which processes `throughline up` starts, with which environment. */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CliError } from '../errors.js';

const require = createRequire(import.meta.url);

export interface StackSettings {
  natsUrl: string;
  redisUrl: string;
  databaseUrl: string;
  partitions: number;
  enrichInstances: number;
  stateInstances: number;
  writerInstances: number;
  ingestAddress: string;
  configAddress: string;
  /** First HTTP port (/healthz, /readyz, /metrics); each process takes the next one. 0: any free port. */
  httpPortBase: number;
  logLevel: string;
}

export interface ServiceSpec {
  /** Unique name of the process (`state-1`). */
  name: string;
  /** The app (`state`). */
  app: string;
  env: Record<string, string>;
}

/** The built entry point of an app. */
export function mainOf(app: string): string {
  let main: string;
  try {
    main = join(dirname(require.resolve(`@throughline/${app}/package.json`)), 'dist', 'main.js');
  } catch (err) {
    throw new CliError(
      `the ${app} service is not installed: run \`pnpm install && pnpm build\` in the repository`,
      { cause: err },
    );
  }
  if (!existsSync(main))
    throw new CliError(`the ${app} service is not built (${main} is missing): run \`pnpm build\``);
  return main;
}

/** The config service first (it migrates the schema and seeds the demo tenants), then the pipeline. */
export function stackServices(s: StackSettings): { first: ServiceSpec; rest: ServiceSpec[] } {
  let next = 0;
  const httpAddress = (): string => `127.0.0.1:${s.httpPortBase === 0 ? 0 : s.httpPortBase + next++}`;
  const common = {
    NATS_URL: s.natsUrl,
    PARTITION_COUNT: String(s.partitions),
    LOG_LEVEL: s.logLevel,
  };
  // Services without a public API still serve gRPC health checks: on any free port, so they never collide.
  const spec = (name: string, app: string, env: Record<string, string>): ServiceSpec => ({
    name,
    app,
    env: { ...common, HTTP_ADDRESS: httpAddress(), GRPC_ADDRESS: '127.0.0.1:0', ...env },
  });
  const instances = (app: string, count: number, env: Record<string, string>): ServiceSpec[] =>
    Array.from({ length: count }, (_, i) =>
      spec(count === 1 ? app : `${app}-${i}`, app, {
        ...env,
        INSTANCE_INDEX: String(i),
        INSTANCE_COUNT: String(count),
      }),
    );
  const first = spec('config', 'config', {
    DATABASE_URL: s.databaseUrl,
    GRPC_ADDRESS: s.configAddress,
    SEED_DEMO_TENANTS: 'true',
  });
  const rest = [
    spec('ingest', 'ingest', { GRPC_ADDRESS: s.ingestAddress }),
    ...instances('enrich', s.enrichInstances, { CONFIG_ADDRESS: s.configAddress }),
    ...instances('state', s.stateInstances, { REDIS_URL: s.redisUrl, DATABASE_URL: s.databaseUrl }),
    ...instances('writer', s.writerInstances, { DATABASE_URL: s.databaseUrl }),
  ];
  return { first, rest };
}
