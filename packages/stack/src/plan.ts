/**
 * Which processes make the stack, with which environment, in which order: the config service first (it migrates
 * the schema and seeds the demo tenants), then ingest and each stage's instances; and the spec of a further
 * instance of a stage while the stack runs.
 */

export const APPS = ['config', 'ingest', 'enrich', 'state', 'writer'] as const;
export type App = (typeof APPS)[number];

/** The stages: their instances share the partitions under leases, and can be added or removed while they run. */
export const STAGE_APPS = ['enrich', 'state', 'writer'] as const;
export type StageApp = (typeof STAGE_APPS)[number];

export interface StackSettings {
  natsUrl: string;
  redisUrl: string;
  databaseUrl: string;
  partitions: number;
  /** Instances each stage starts with. */
  instances: Record<StageApp, number>;
  /** Where ingest and config listen; port 0 takes any free port (read back from the ready line). */
  ingestAddress: string;
  configAddress: string;
  /** First port of the services' /healthz, /readyz and /metrics, one each in start order; 0: any free port. */
  httpPortBase: number;
  logLevel: string;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /** Extra environment for the services of one app (every instance of a stage). */
  appEnv?: Partial<Record<App, Record<string, string>>>;
}

export interface ServiceSpec {
  /** Unique name of the process: `config`, `ingest`, `state` (alone) or `state-0`, `state-1`, … */
  name: string;
  app: App;
  env: Record<string, string>;
}

export class StackPlan {
  private nextHttp = 0;
  private readonly started = new Map<StageApp, number>();

  /** Mutable: `up` and the launcher fill in the addresses services bound when asked for port 0. */
  constructor(readonly settings: StackSettings) {}

  config(): ServiceSpec {
    const s = this.settings;
    return this.spec('config', 'config', {
      DATABASE_URL: s.databaseUrl,
      GRPC_ADDRESS: s.configAddress,
      // The local stack runs without certificates: plaintext, said explicitly. Configuration changes are open
      // (`throughline config set`) while the service listens on loopback only; bound wider, it refuses them.
      GRPC_PLAINTEXT: 'true',
      ...(isLoopback(s.configAddress) ? { CONFIG_PUT_OPEN: 'true' } : {}),
      SEED_DEMO_TENANTS: 'true',
    });
  }

  /** Needs the config service's address (ingest does not call it, the stages after it do). */
  ingest(): ServiceSpec {
    return this.spec('ingest', 'ingest', {
      GRPC_ADDRESS: this.settings.ingestAddress,
      GRPC_PLAINTEXT: 'true',
      // Publishing without a client credential, as configuration changes: only while ingest listens on loopback.
      ...(isLoopback(this.settings.ingestAddress) ? { INGEST_AUTH_OPEN: 'true' } : {}),
    });
  }

  /** The initial instances of every stage. */
  stages(): ServiceSpec[] {
    return STAGE_APPS.flatMap((app) =>
      Array.from({ length: this.settings.instances[app] }, () => this.instance(app)),
    );
  }

  /** One more instance of a stage. Its name is also its instance id (a random suffix is added by the service). */
  instance(app: StageApp): ServiceSpec {
    const s = this.settings;
    const n = this.started.get(app) ?? 0;
    this.started.set(app, n + 1);
    const name = s.instances[app] === 1 && n === 0 ? app : `${app}-${n}`;
    const own: Record<StageApp, Record<string, string>> = {
      enrich: { CONFIG_ADDRESS: s.configAddress, CONFIG_PLAINTEXT: 'true' },
      state: { REDIS_URL: s.redisUrl, DATABASE_URL: s.databaseUrl },
      writer: { DATABASE_URL: s.databaseUrl },
    };
    return this.spec(name, app, { ...own[app], INSTANCE_ID: name });
  }

  private spec(name: string, app: App, env: Record<string, string>): ServiceSpec {
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
        ...s.env,
        ...env,
        ...s.appEnv?.[app],
      },
    };
  }
}

/** Whether `host:port` listens on the loopback interface only. */
export function isLoopback(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
