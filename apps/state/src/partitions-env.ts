import { ownedPartitions } from '@throughline/runtime';

/** The partitions this instance owns, for the telemetry resource; undefined when the settings are invalid (the service then refuses to start with a clear message). */
export function ownedPartitionsFromEnv(env: NodeJS.ProcessEnv): number[] | undefined {
  try {
    return ownedPartitions(
      Number(env.PARTITION_COUNT ?? 16),
      Number(env.INSTANCE_INDEX ?? 0),
      Number(env.INSTANCE_COUNT ?? 1),
    );
  } catch {
    return undefined;
  }
}
