import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { ConfigChange, ConfigServiceServer, TenantConfig } from '@throughline/contracts';
import { ensureError, type Logger } from '@throughline/runtime';
import { isStoreError, type TenantConfigRepository } from '@throughline/stores';

/**
 * Fans the database's change notifications (one LISTEN per process) out to every Watch stream. A stream first
 * gets the configurations newer than the version it asked for, then a marker, then each change as it happens;
 * notifications that arrive while the snapshot is being read are held and sent after it, without duplicates.
 */
export function createConfigService(
  repo: TenantConfigRepository,
  changes: EventEmitter,
  logger: Logger,
): ConfigServiceServer {
  return {
    get(call, callback) {
      repo.get(call.request.tenantId).then(
        (config) =>
          config
            ? callback(null, config)
            : callback({
                code: grpc.status.NOT_FOUND,
                details: `no configuration for tenant ${JSON.stringify(call.request.tenantId)}`,
              }),
        (err: unknown) => callback(toStatus(err)),
      );
    },
    list(_call, callback) {
      repo.list().then(
        (list) => callback(null, { configs: list.configs, version: list.version }),
        (err: unknown) => callback(toStatus(err)),
      );
    },
    put(call, callback) {
      const config = call.request.config;
      if (config === undefined) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: 'config: is required' });
        return;
      }
      const { version: _version, updatedAtMs: _updatedAtMs, ...input } = config;
      repo.put(input).then(
        (stored) => {
          logger.info('configuration stored', { tenant: stored.tenantId, version: String(stored.version) });
          callback(null, stored);
        },
        (err: unknown) => callback(toStatus(err)),
      );
    },
    watch(call) {
      const sentVersion = new Map<string, bigint>();
      let floor = call.request.afterVersion;
      let snapshotDone = false;
      const held: { tenantId: string; version: bigint }[] = [];
      const send = (config: TenantConfig): void => {
        const last = sentVersion.get(config.tenantId) ?? floor;
        if (config.version <= last) return;
        sentVersion.set(config.tenantId, config.version);
        const change: ConfigChange = { config, snapshotComplete: false };
        call.write(change);
      };
      const forward = (n: { tenantId: string; version: bigint }): void => {
        if (!snapshotDone) {
          held.push(n);
          return;
        }
        repo.get(n.tenantId).then(
          (config) => config && !call.cancelled && send(config),
          (err: unknown) => {
            logger.warn('watch: reading a changed configuration failed; ending the stream', {
              error: ensureError(err).message,
            });
            call.destroy(ensureError(err));
          },
        );
      };
      changes.on('change', forward);
      call.on('cancelled', () => changes.off('change', forward));
      call.on('close', () => changes.off('change', forward));
      repo.list().then(
        (list) => {
          for (const c of list.configs) send(c);
          call.write({ config: undefined, snapshotComplete: true });
          floor = 0n;
          snapshotDone = true;
          for (const n of held.splice(0)) forward(n);
        },
        (err: unknown) => call.destroy(ensureError(err)),
      );
    },
  };
}

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  if (isStoreError(err, 'INVALID_INPUT')) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
  return { code: grpc.status.UNAVAILABLE, details: ensureError(err).message };
}
