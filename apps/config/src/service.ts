import { ConfigServiceService } from '@throughline/contracts';
import { createConfigService, followConfigChanges } from '@throughline/pipeline';
import { onShutdown } from '@throughline/runtime';
import {
  createLogger,
  createPostgresPool,
  serverCredentialsOrExit,
  startGrpcServer,
  startHttpServer,
} from '@throughline/service';
import { createTenantConfigRepository, ensureSchema } from '@throughline/stores';
import { loadSettings } from './config.js';
import { createPutAuthorizer, describeAdminAuth } from './admin-auth.js';
import type { Telemetry } from '@throughline/telemetry-sdk';

/** Runs the config service until SIGTERM; telemetry was started by `main.ts` before anything else loaded. */
export async function run(telemetry: Telemetry): Promise<void> {
  const settings = loadSettings();
  const logger = createLogger('config', settings.LOG_LEVEL);
  const http = await startHttpServer({ address: settings.HTTP_ADDRESS, metrics: telemetry.metricsHandler });

  const pool = createPostgresPool(settings, { max: settings.PG_POOL_SIZE, logger });
  await ensureSchema(pool, settings.DATABASE_MIGRATE);
  const repo = createTenantConfigRepository(pool);
  if (settings.SEED_DEMO_TENANTS) {
    const added = await repo.seedDemoTenants();
    logger.info('demo tenants seeded', { added });
  }

  const { changes, stop: stopListening } = await followConfigChanges(repo, logger);

  const grpcServer = await startGrpcServer({
    address: settings.GRPC_ADDRESS,
    credentials: await serverCredentialsOrExit(settings, logger),
    connections: settings,
    services: [
      {
        name: 'throughline.v1.ConfigService',
        definition: ConfigServiceService,
        implementation: createConfigService(repo, changes, logger, createPutAuthorizer(settings)),
      },
    ],
  });
  grpcServer.setServing(true);
  http.setReady(true);
  logger.info(`configuration changes (Put): ${describeAdminAuth(settings)}`);
  logger.info('ready', { httpPort: http.port, port: grpcServer.port });

  onShutdown(
    async () => {
      http.setReady(false);
      await grpcServer.shutdown(2000);
      await stopListening();
      await pool.end();
      await http.close();
      await telemetry.shutdown();
    },
    { logger, timeoutMs: settings.SHUTDOWN_TIMEOUT_MS },
  );
}
