import * as grpc from '@grpc/grpc-js';
import { protoFiles, protoRoot } from '@throughline/contracts';
import { HealthImplementation, type ServingStatusMap } from 'grpc-health-check';
import type { GrpcServerSettings } from './settings.js';

/**
 * Server reflection for the services served, loaded only when there are some: the stages serve nothing but the
 * health service, and loading the protos and the reflection service costs them ~0.3 s of CPU at every start (a
 * scale event starts processes on busy cores).
 */
async function addReflection(server: grpc.Server): Promise<void> {
  const [protoLoader, { ReflectionService }] = await Promise.all([
    import('@grpc/proto-loader'),
    import('@grpc/reflection'),
  ]);
  const definition = protoLoader.loadSync([...protoFiles], {
    includeDirs: [protoRoot],
    longs: String,
    keepCase: true,
  });
  new ReflectionService(definition).addToServer(server);
}

export interface GrpcServerOptions {
  /** Address to bind, `host:port`; port 0 picks a free one. */
  address: string;
  /** Services to serve: generated `*Service` definitions with their implementations. */
  services: {
    definition: grpc.ServiceDefinition;
    implementation: grpc.UntypedServiceImplementation;
    name: string;
  }[];
  /** Largest request accepted, bytes. Default 16 MiB. */
  maxReceiveMessageBytes?: number;
  /** Connection limits of a public server (`grpcServerSettings`). Default: grpc-js' own (no limits). */
  connections?: GrpcServerSettings;
  /** TLS (`serverCredentialsOrExit`). Default: plaintext, for the stages' health-only servers. */
  credentials?: grpc.ServerCredentials;
}

export interface RunningGrpcServer {
  server: grpc.Server;
  port: number;
  health: HealthImplementation;
  /** Marks every service (and the server, "") as serving or not. */
  setServing(serving: boolean): void;
  /** Stops accepting calls and waits for the calls in progress (forcing after `graceMs`). */
  shutdown(graceMs?: number): Promise<void>;
}

/**
 * Starts a gRPC server with the given services plus the standard health service (`grpc.health.v1`) and, when it
 * serves an API, server reflection, so generic clients (grpcurl, grpcui) can discover and call it.
 */
export async function startGrpcServer(opts: GrpcServerOptions): Promise<RunningGrpcServer> {
  const c = opts.connections;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxReceiveMessageBytes ?? 16 * 1024 * 1024,
    ...(c === undefined
      ? {}
      : {
          'grpc.max_concurrent_streams': c.GRPC_MAX_CONCURRENT_STREAMS,
          'grpc.max_connection_idle_ms': c.GRPC_MAX_CONNECTION_IDLE_MS,
          'grpc.max_connection_age_ms': c.GRPC_MAX_CONNECTION_AGE_MS,
          'grpc.max_connection_age_grace_ms': c.GRPC_MAX_CONNECTION_AGE_GRACE_MS,
          'grpc.keepalive_time_ms': c.GRPC_KEEPALIVE_TIME_MS,
          'grpc.keepalive_timeout_ms': c.GRPC_KEEPALIVE_TIMEOUT_MS,
        }),
  });
  for (const s of opts.services) server.addService(s.definition, s.implementation);

  const statusMap: ServingStatusMap = { '': 'NOT_SERVING' };
  for (const s of opts.services) statusMap[s.name] = 'NOT_SERVING';
  const health = new HealthImplementation(statusMap);
  health.addToServer(server);

  if (opts.services.length > 0) await addReflection(server);

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      opts.address,
      opts.credentials ?? grpc.ServerCredentials.createInsecure(),
      (err, boundPort) => (err ? reject(err) : resolve(boundPort)),
    );
  });
  const setServing = (serving: boolean): void => {
    const status = serving ? 'SERVING' : 'NOT_SERVING';
    health.setStatus('', status);
    for (const s of opts.services) health.setStatus(s.name, status);
  };
  return {
    server,
    port,
    health,
    setServing,
    shutdown: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        setServing(false);
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
