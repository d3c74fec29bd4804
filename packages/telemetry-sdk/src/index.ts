/**
 * @throughline/telemetry-sdk — the OpenTelemetry SDK set-up of a service process (only apps depend on it).
 *
 * ```ts
 * // apps/<service>/src/instrument.ts, imported first by main.ts
 * export const telemetry = startTelemetry({ serviceName: 'state', instanceId: 'state-0', env: process.env });
 * ```
 */
export {
  libraryInstrumentations,
  redisStatement,
  registerInstrumentationHooks,
  startTelemetry,
  tracingConfigured,
  type Telemetry,
  type TelemetryOptions,
} from './sdk.js';
export { FollowLinksSampler, samplerFromEnv } from './sampler.js';
