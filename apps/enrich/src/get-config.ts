import * as grpc from '@grpc/grpc-js';
import type { ConfigServiceClient, TenantConfig } from '@throughline/contracts';

/** One ConfigService.Get round trip: the tenant's configuration, or undefined when the tenant is unknown. */
export function getTenantConfig(
  client: ConfigServiceClient,
  tenantId: string,
): Promise<TenantConfig | undefined> {
  return new Promise((resolve, reject) => {
    client.get({ tenantId }, (err, config) => {
      if (err?.code === grpc.status.NOT_FOUND) resolve(undefined);
      else if (err) reject(err);
      else resolve(config);
    });
  });
}
