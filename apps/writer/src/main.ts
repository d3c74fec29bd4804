/**
 * Entry of the writer service. Telemetry starts first, so that the libraries it instruments (@grpc/grpc-js,
 * ioredis, pg) are loaded after its hooks; then the service itself is imported and run.
 */
import { startTelemetry } from '@throughline/telemetry-sdk';
import { ownedPartitionsFromEnv } from '@throughline/runtime';

const instanceIndex = process.env.INSTANCE_INDEX ?? '0';
const telemetry = startTelemetry({
  serviceName: 'throughline-writer',
  instanceId: `writer-${instanceIndex}`,
  partitions: ownedPartitionsFromEnv(process.env),
  env: process.env,
});
const { run } = await import('./service.js');
await run(telemetry);
