/**
 * @throughline/testkit — real servers for integration tests.
 *
 * Starts isolated nats-server (JetStream), redis-server, PostgreSQL and Prometheus instances, each on a free port of
 * 127.0.0.1 with its own temp dir, and the services under test as captured child processes. Nothing is
 * faked and nothing is skipped: a missing binary throws `MissingBinaryError` saying how to install it.
 * Every server can be SIGKILLed and restarted on the same port with the same data, and anything still
 * running when the test process exits is killed.
 *
 * @example
 * ```ts
 * import { startNats, startPostgres, spawnService } from '@throughline/testkit';
 *
 * const nats = await startNats();
 * const pg = await startPostgres();
 * const databaseUrl = await pg.createDatabase();
 * const app = spawnService({
 *   name: 'ingest',
 *   command: process.execPath,
 *   args: ['dist/main.js'],
 *   env: { NATS_URL: nats.url, DATABASE_URL: databaseUrl },
 * });
 * await app.waitForOutput(/listening/);
 * await nats.kill();     // the broker dies...
 * await nats.restart();  // ...and comes back on the same port with its JetStream data
 * await app.kill();
 * await Promise.all([nats.stop(), pg.stop()]);
 * ```
 */
export {
  CommandFailedError,
  MissingBinaryError,
  ServerStartError,
  ServiceExitedError,
  TestkitErrorCode,
  WaitTimeoutError,
  ensureError,
  isCommandFailedError,
  isMissingBinaryError,
  isServerStartError,
  isServiceExitedError,
  isWaitTimeoutError,
} from './errors.js';
export type { BinaryLookupOptions } from './binaries.js';
export type { Logger } from './logger.js';
export { freePort } from './ports.js';
export { waitFor, type WaitForOptions } from './wait.js';
export type { ServerHandle, ServerStartOptions } from './server-handle.js';
export { startNats, type NatsHandle, type NatsStartOptions } from './nats.js';
export {
  startNatsCluster,
  type NatsClusterHandle,
  type NatsClusterStartOptions,
  type NatsNodeHandle,
} from './nats-cluster.js';
export { natsServerAtLeast, natsServerVersion, type NatsServerAtLeastOptions } from './nats-provision.js';
export { aclFileUsers, startRedis, type RedisHandle, type RedisStartOptions } from './redis.js';
export {
  startRedisSentinel,
  type RedisSentinelHandle,
  type RedisSentinelStartOptions,
} from './redis-sentinel.js';
export { redisRequest, type RespValue } from './resp.js';
export {
  startPostgres,
  type PostgresHandle,
  type PostgresStandbyHandle,
  type PostgresStartOptions,
} from './postgres.js';
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
export { createTestPki, type CertFiles, type TestPki } from './pki.js';
export { startPrometheus, type PrometheusHandle, type PrometheusStartOptions } from './prometheus.js';
export { spawnService, type ExitStatus, type ServiceProcess, type SpawnServiceOptions } from './process.js';
