import { z } from 'zod';
import { booleanFlag, commonSettings, grpcServerSettings, parseSettings } from '@throughline/service';

const schema = commonSettings.merge(grpcServerSettings).extend({
  /** Address of the public gRPC server. */
  GRPC_ADDRESS: z.string().default('0.0.0.0:50051'),
  /** Events per bus message; a partition's batch is sent when this full. */
  INGEST_MAX_BATCH_EVENTS: z.coerce.number().int().min(1).max(65_535).default(1000),
  /** How long a partition's batch waits for more events, ms. */
  INGEST_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(5),
  /** Events accepted and not yet durable, over all calls; past it calls get RESOURCE_EXHAUSTED. */
  INGEST_MAX_IN_FLIGHT_EVENTS: z.coerce.number().int().min(1).default(200_000),
  /** Events one request (or one streamed message) may hold. */
  INGEST_MAX_REQUEST_EVENTS: z.coerce.number().int().min(1).max(100_000).default(10_000),
  /** Bytes of events accepted and not yet durable (as received), over all calls; past it calls get RESOURCE_EXHAUSTED. */
  INGEST_MAX_IN_FLIGHT_BYTES: z.coerce
    .number()
    .int()
    .min(65_536)
    .default(64 * 1024 * 1024),
  /** Retry hint sent with RESOURCE_EXHAUSTED, ms. */
  INGEST_RETRY_AFTER_MS: z.coerce.number().int().min(1).default(200),
  /**
   * Every caller may publish for every tenant, unauthenticated: for a local stack on loopback only. Default false:
   * each call needs a client credential of the client bucket (`throughline clients create`).
   */
  INGEST_AUTH_OPEN: booleanFlag,
});
export type IngestSettings = z.infer<typeof schema>;

export function loadSettings(env: NodeJS.ProcessEnv = process.env): IngestSettings {
  return parseSettings(schema, env, 'ingest');
}
