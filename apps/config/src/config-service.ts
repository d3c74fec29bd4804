import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { ConfigChange, ConfigServiceServer, TenantConfig } from '@throughline/contracts';
import { ensureError, type Logger } from '@throughline/runtime';
import { isStoreError, type ConfigListenOptions, type TenantConfigRepository } from '@throughline/stores';
import type { CallCredentials, PutAuthorization } from './admin-auth.js';

/**
 * The database's configuration changes as events for the Watch streams, and how to stop following them: `change`
 * for each notification, and `resync` when the LISTEN connection was lost and listens again — changes committed
 * meanwhile were never notified, so every Watch stream is ended and its client, reconnecting, reads the whole
 * configuration again.
 */
export async function followConfigChanges(
  repo: TenantConfigRepository,
  logger: Logger,
  opts: Pick<ConfigListenOptions, 'reconnectDelayMs'> = {},
): Promise<{ changes: EventEmitter; stop: () => Promise<void> }> {
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const stop = await repo.listen((tenantId, version) => changes.emit('change', { tenantId, version }), {
    ...opts,
    onError: (err) => logger.warn('config change notifications', { error: err.message }),
    onResync: () => {
      logger.warn(
        'config change notifications resumed; ending every Watch so that clients read the whole configuration',
      );
      changes.emit('resync');
    },
  });
  return { changes, stop };
}

/**
 * Fans the database's change notifications (one LISTEN per process) out to every Watch stream. A stream first
 * gets the configurations newer than the version it asked for, then a marker, then each change as it happens;
 * notifications that arrive while the snapshot is being read are held and sent after it, without duplicates. A
 * `resync` (notifications may have been lost) ends every stream with UNAVAILABLE.
 */
export function createConfigService(
  repo: TenantConfigRepository,
  changes: EventEmitter,
  logger: Logger,
  authorizePut: (call: CallCredentials) => PutAuthorization,
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
      const auth = authorizePut({
        metadata: call.metadata,
        clientName: [call.getAuthContext().sslPeerCertificate?.subject?.CN].flat()[0],
        peer: call.getPeer(),
      });
      if (!auth.ok) {
        logger.warn('configuration change refused', {
          tenant: config.tenantId,
          reason: auth.log ?? auth.status.details,
        });
        callback(auth.status);
        return;
      }
      const { version: _version, updatedAtMs: _updatedAtMs, ...input } = config;
      repo.put(input, { changedBy: auth.by }).then(
        (stored) => {
          logger.info('configuration stored', {
            tenant: stored.tenantId,
            version: String(stored.version),
            by: auth.by,
          });
          callback(null, stored);
        },
        (err: unknown) => callback(toStatus(err)),
      );
    },
    watch(call) {
      const sentVersion = new Map<string, bigint>();
      let floor = call.request.afterVersion;
      let snapshotDone = false;
      let ended = false;
      let resyncAfterSnapshot = false;
      const held: { tenantId: string; version: bigint }[] = [];
      const send = (config: TenantConfig): void => {
        if (ended) return;
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
      // grpc-js ends a server stream with the status of an 'error' event. A snapshot still being read may have
      // been read before the missed changes: the stream ends once it is sent, not in the middle of it.
      const resync = (): void => {
        if (!snapshotDone) {
          resyncAfterSnapshot = true;
          return;
        }
        if (ended) return;
        ended = true;
        call.emit('error', {
          code: grpc.status.UNAVAILABLE,
          details: 'configuration changes may have been missed; reconnect to read them',
        });
      };
      const off = (): void => {
        changes.off('change', forward);
        changes.off('resync', resync);
      };
      changes.on('change', forward);
      changes.on('resync', resync);
      call.on('cancelled', off);
      call.on('close', off);
      repo.list().then(
        (list) => {
          if (call.cancelled) return;
          for (const c of list.configs) send(c);
          call.write({ config: undefined, snapshotComplete: true });
          floor = 0n;
          snapshotDone = true;
          if (resyncAfterSnapshot) {
            resync();
            return;
          }
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
