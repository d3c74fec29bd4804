/**
 * Entry of the writer service. Telemetry starts first, so that the libraries it instruments (@grpc/grpc-js,
 * ioredis, pg) are loaded after its hooks; then the service itself is imported and run.
 */
import { instanceIdOf } from '@throughline/runtime';
import { startTelemetry } from '@throughline/telemetry-sdk';

const instanceId = instanceIdOf('writer', process.env);
const telemetry = startTelemetry({
  serviceName: 'throughline-writer',
  instanceId,
  env: process.env,
  resolveFrom: import.meta.url,
});
const { run } = await import('./service.js');
await run(telemetry, instanceId);
