import { fileURLToPath } from 'node:url';

/** Directory holding the `.proto` sources (copied beside the package by `generate`), for server reflection. */
export const protoRoot: string = fileURLToPath(new URL('../proto', import.meta.url));

/** The proto files of the public services, relative to `protoRoot`. */
export const protoFiles = [
  'throughline/v1/ingest.proto',
  'throughline/v1/config.proto',
  'grpc/health/v1/health.proto',
] as const;
