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

/** The stages whose instances `up` can add and remove while it runs. */
export const STAGE_APPS = ['enrich', 'state', 'writer'] as const;
export type StageApp = (typeof STAGE_APPS)[number];

/**
 * Which processes `up` starts, with which environment: the config service first (it migrates the schema and
 * seeds the demo tenants), then ingest and the stages' instances; and the specs of further instances of a stage
 * while the stack runs. Addresses asked for with port 0 are filled in (`settings`) once the service reported them.
 */
export class StackPlan {
  private nextHttp = 0;
  private readonly started = new Map<StageApp, number>();

  constructor(public settings: StackSettings) {}

  config(): ServiceSpec {
    const s = this.settings;
    return this.spec('config', 'config', {
      DATABASE_URL: s.databaseUrl,
      GRPC_ADDRESS: s.configAddress,
      SEED_DEMO_TENANTS: 'true',
    });
  }

  ingest(): ServiceSpec {
    return this.spec('ingest', 'ingest', { GRPC_ADDRESS: this.settings.ingestAddress });
  }

  /** The initial instances of every stage. */
  stages(): ServiceSpec[] {
    const s = this.settings;
    const counts: Record<StageApp, number> = {
      enrich: s.enrichInstances,
      state: s.stateInstances,
      writer: s.writerInstances,
    };
    return STAGE_APPS.flatMap((app) => Array.from({ length: counts[app] }, () => this.instance(app)));
  }

  /** One more instance of `app`: `state-0`, `state-1`, … (just `state` when it starts alone). */
  instance(app: StageApp): ServiceSpec {
    const s = this.settings;
    const n = this.started.get(app) ?? 0;
    this.started.set(app, n + 1);
    const initial = { enrich: s.enrichInstances, state: s.stateInstances, writer: s.writerInstances }[app];
    const name = initial === 1 && n === 0 ? app : `${app}-${n}`;
    const env: Record<string, Record<string, string>> = {
      enrich: { CONFIG_ADDRESS: s.configAddress },
      state: { REDIS_URL: s.redisUrl, DATABASE_URL: s.databaseUrl },
      writer: { DATABASE_URL: s.databaseUrl },
    };
    // Instances share the partitions under leases: each takes a balanced share, which moves as they come and go.
    return this.spec(name, app, { ...env[app], INSTANCE_ID: name });
  }

  private spec(name: string, app: string, env: Record<string, string>): ServiceSpec {
    const s = this.settings;
    const http = s.httpPortBase === 0 ? 0 : s.httpPortBase + this.nextHttp++;
    return {
      name,
      app,
      env: {
        NATS_URL: s.natsUrl,
        PARTITION_COUNT: String(s.partitions),
        LOG_LEVEL: s.logLevel,
        HTTP_ADDRESS: `127.0.0.1:${http}`,
        // Services without a public API still serve gRPC health checks: on any free port, so they never collide.
        GRPC_ADDRESS: '127.0.0.1:0',
        ...env,
      },
    };
  }
}
