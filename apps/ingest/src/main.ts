/**
 * Entry of the ingest service. Telemetry starts first, so that the libraries it instruments (@grpc/grpc-js,
 * ioredis, pg) are loaded after its hooks; then the service itself is imported and run.
 */
import { startTelemetry } from '@throughline/telemetry-sdk';

const instanceIndex = process.env.INSTANCE_INDEX ?? '0';
const telemetry = startTelemetry({
  serviceName: 'throughline-ingest',
  instanceId: `ingest-${instanceIndex}`,
  env: process.env,
  resolveFrom: import.meta.url,
});
const { run } = await import('./service.js');
await run(telemetry);
