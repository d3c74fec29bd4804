import { describe, expect, it } from 'vitest';
import {
  readyPortsOf,
  Stack,
  StackPlan,
  type App,
  type ExitStatus,
  type LaunchedService,
  type ServiceSpec,
  type StackSettings,
} from '../src/index.js';

const settings = (over: Partial<StackSettings> = {}): StackSettings => ({
  natsUrl: 'nats://n:4222',
  redisUrl: 'redis://r:6379',
  databaseUrl: 'postgres://p/db',
  partitions: 8,
  instances: { enrich: 1, state: 2, writer: 1 },
  ingestAddress: '127.0.0.1:0',
  configAddress: '127.0.0.1:0',
  httpPortBase: 0,
  logLevel: 'info',
  ...over,
});

describe('readyPortsOf', () => {
  it('reads the ports of a ready line, and nothing from a line that merely mentions one', () => {
    expect(readyPortsOf('{"level":30,"httpPort":40001,"port":40002,"msg":"ready"}')).toEqual({
      httpPort: 40001,
      grpcPort: 40002,
    });
    expect(readyPortsOf('{"level":30,"httpPort":40003,"msg":"ready"}')).toEqual({
      httpPort: 40003,
      grpcPort: undefined,
    });
    expect(
      readyPortsOf('{"level":30,"note":"\\"msg\\":\\"ready\\" comes later","msg":"starting"}'),
    ).toBeUndefined();
    expect(readyPortsOf('{"msg":"ready"}')).toBeUndefined();
    expect(readyPortsOf('ready')).toBeUndefined();
  });
});

describe('StackPlan', () => {
  it('names the instances, gives each the settings of its stage, and numbers HTTP ports in start order', () => {
    const plan = new StackPlan(
      settings({ httpPortBase: 9000, appEnv: { state: { INJECT_LATENCY: 'redis=1ms' } } }),
    );
    const config = plan.config();
    const stages = plan.stages();
    expect(config.env).toMatchObject({ SEED_DEMO_TENANTS: 'true', HTTP_ADDRESS: '127.0.0.1:9000' });
    expect(stages.map((s) => s.name)).toEqual(['enrich', 'state-0', 'state-1', 'writer']);
    expect(stages[1]!.env).toMatchObject({
      INSTANCE_ID: 'state-0',
      REDIS_URL: 'redis://r:6379',
      INJECT_LATENCY: 'redis=1ms',
      HTTP_ADDRESS: '127.0.0.1:9002',
    });
    expect(stages.every((s) => !('INSTANCE_INDEX' in s.env))).toBe(true);
    expect(plan.instance('state').name).toBe('state-2');
    expect(plan.instance('enrich').name).toBe('enrich-1');
  });

  it('opens configuration changes only while config listens on loopback', () => {
    const put = (configAddress: string) =>
      new StackPlan(settings({ configAddress })).config().env.CONFIG_PUT_OPEN;
    for (const address of ['127.0.0.1:0', 'localhost:50052', '[::1]:50052'])
      expect(put(address), address).toBe('true');
    for (const address of ['0.0.0.0:50052', '10.1.2.3:50052', '[::]:50052'])
      expect(put(address), address).toBeUndefined();
  });
});

/** A service whose life the test drives: it reports ready at once, with ports from a counter. */
class Scripted implements LaunchedService {
  static port = 41_000;
  running = true;
  readonly exited: Promise<ExitStatus>;
  private exit!: (status: ExitStatus) => void;
  constructor(readonly spec: ServiceSpec) {
    this.exited = new Promise((resolve) => (this.exit = resolve));
  }
  get name(): string {
    return this.spec.name;
  }
  get app(): App {
    return this.spec.app;
  }
  ready(): Promise<{ httpPort: number; grpcPort: number }> {
    return Promise.resolve({ httpPort: Scripted.port++, grpcPort: Scripted.port++ });
  }
  stop(): Promise<ExitStatus> {
    this.running = false;
    this.exit({ code: 0, signal: null });
    return this.exited;
  }
}

describe('Stack', () => {
  it('starts config first, hands its bound address to the stages, and scales a stage both ways', async () => {
    const launched: Scripted[] = [];
    const stack = await Stack.start({
      settings: settings(),
      spawn: (spec) => new Scripted(spec),
      onLaunch: (s) => launched.push(s),
    });
    expect(launched.map((s) => s.name)).toEqual([
      'config',
      'ingest',
      'enrich',
      'state-0',
      'state-1',
      'writer',
    ]);
    const configAddress = stack.settings.configAddress;
    expect(configAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(configAddress).not.toMatch(/:0$/);
    expect(launched.find((s) => s.name === 'enrich')!.spec.env.CONFIG_ADDRESS).toBe(configAddress);
    expect(stack.settings.ingestAddress).not.toMatch(/:0$/);
    expect(stack.httpPorts.size).toBe(6);

    await stack.scale('state', 4, 1_000);
    expect(stack.running('state').map((s) => s.name)).toEqual(['state-0', 'state-1', 'state-2', 'state-3']);
    await stack.scale('state', 1, 1_000);
    expect(stack.running('state').map((s) => s.name)).toEqual(['state-0']);
    expect(launched.filter((s) => s.app === 'state' && !s.running).every((s) => stack.isRetired(s))).toBe(
      true,
    );
    await expect(stack.scale('state', 9, 1_000)).rejects.toThrow(/between 1 and 8/);
    await stack.stop(1_000);
    expect(launched.every((s) => !s.running)).toBe(true);
  });

  it('stops what started when a service fails to become ready', async () => {
    const launched: Scripted[] = [];
    const failing = (spec: ServiceSpec): Scripted => {
      const s = new Scripted(spec);
      if (spec.name === 'writer') s.ready = () => Promise.reject(new Error('writer exited with code 1'));
      launched.push(s);
      return s;
    };
    await expect(Stack.start({ settings: settings(), spawn: failing })).rejects.toThrow('writer exited');
    expect(launched.every((s) => !s.running)).toBe(true);
  });
});
