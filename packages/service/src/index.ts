/**
 * @throughline/service — what every service process shares: a JSON logger, the settings every service reads
 * (validated with zod by each app), and a gRPC server with the standard health service and server reflection.
 *
 * ```ts
 * const settings = parseSettings(commonSettings.extend({ PORT: z.coerce.number() }), process.env, 'ingest');
 * const logger = createLogger('ingest', settings.LOG_LEVEL);
 * const grpcServer = await startGrpcServer({ address: '0.0.0.0:50051', services: [...] });
 * ```
 */
export { createLogger } from './logger.js';
export {
  busSettingsOf,
  checkOwnership,
  commonSettings,
  natsAuthOf,
  grpcServerSettings,
  parseSettings,
  type CommonSettings,
  type GrpcServerSettings,
} from './settings.js';
export { startGrpcServer, type GrpcServerOptions, type RunningGrpcServer } from './grpc-server.js';
export {
  booleanFlag,
  channelCredentialsOf,
  grpcTlsSettings,
  serverCredentialsOf,
  serverCredentialsOrExit,
  type ClientTls,
  type GrpcTlsSettings,
} from './tls.js';
export { createPostgresPool, postgresSettings, readPasswordFile, type PostgresSettings } from './postgres.js';
export {
  createRedisClient,
  redisOptionsOf,
  redisSettings,
  redisSettingsProblem,
  sentinelAddresses,
  type RedisSettings,
} from './redis.js';
export { startHttpServer, type HttpServerOptions, type RunningHttpServer } from './http-server.js';
export { connectServiceBus, staticPartitionsOrExit } from './stage.js';
export {
  runStageService,
  type ServiceTelemetry,
  type StageRuntime,
  type StageServiceOptions,
} from './stage-service.js';
