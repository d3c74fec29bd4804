/**
 * The config service's gRPC handlers (Get, List, Put, Watch) over a `ConfigRepository`: the database's change
 * notifications (one LISTEN per process) fanned out to every Watch stream that `ConfigFeed`s follow.
 */
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { ConfigChange, ConfigServiceServer, TenantConfig } from '@throughline/contracts';
import { ensureError, type Logger } from '@throughline/runtime';
import type { ConfigRepository } from './ports.js';

/** What a call carries that can authenticate it. */
export interface CallCredentials {
  metadata: grpc.Metadata;
  /** The verified client certificate's subject common name, over mutual TLS. */
  clientName: string | undefined;
  /** The peer's address, for the record of an open Put. */
  peer: string;
}

/** Allowed (and by whom), or refused with the status for the caller and, when it differs, a reason for the log. */
export type PutAuthorization =
  { ok: true; by: string } | { ok: false; status: Partial<grpc.StatusObject>; log?: string };

/** A tenant's configuration changed to `version` (a notification carries no configuration: it is read again). */
export interface ConfigNotice {
  tenantId: string;
  version: bigint;
}

/**
 * The repository's configuration changes as events for the Watch streams, and how to stop following them:
 * `change` (a `ConfigNotice`) for each notification, and `resync` when the LISTEN connection was lost and listens
 * again — changes committed meanwhile were never notified, so every Watch stream is ended and its client,
 * reconnecting, reads the whole configuration again.
 */
export async function followConfigChanges(
  repo: Pick<ConfigRepository, 'listen'>,
  logger: Logger,
  opts: { reconnectDelayMs?: number } = {},
): Promise<{ changes: EventEmitter; stop: () => Promise<void> }> {
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const stop = await repo.listen(
    (tenantId, version) => changes.emit('change', { tenantId, version } satisfies ConfigNotice),
    {
      ...opts,
      onError: (err) => logger.warn('config change notifications', { error: err.message }),
      onResync: () => {
        logger.warn(
          'config change notifications resumed; ending every Watch so that clients read the whole configuration',
        );
        changes.emit('resync');
      },
    },
  );
  return { changes, stop };
}

/**
 * ConfigService over `repo`, its Watch streams fed by `changes` (see `followConfigChanges`). A stream first gets
 * the configurations newer than the version it asked for, then a marker, then each change as it happens;
 * notifications that arrive while the snapshot is being read are held and sent after it, without duplicates. A
 * `resync` (notifications may have been lost) ends every stream with UNAVAILABLE. A Put goes ahead only when
 * `authorizePut` allows it, recorded with who made it.
 */
export function createConfigService(
  repo: ConfigRepository,
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
      const held: ConfigNotice[] = [];
      const send = (config: TenantConfig): void => {
        if (ended) return;
        const last = sentVersion.get(config.tenantId) ?? floor;
        if (config.version <= last) return;
        sentVersion.set(config.tenantId, config.version);
        const change: ConfigChange = { config, snapshotComplete: false };
        call.write(change);
      };
      // grpc-js ends a server stream with the status of an 'error' event (`destroy` would end it with none, and
      // its client would wait for good).
      const end = (details: string): void => {
        if (ended) return;
        ended = true;
        call.emit('error', { code: grpc.status.UNAVAILABLE, details });
      };
      const forward = (n: ConfigNotice): void => {
        if (!snapshotDone) {
          held.push(n);
          return;
        }
        repo.get(n.tenantId).then(
          (config) => config && !call.cancelled && send(config),
          (err: unknown) => {
            const error = ensureError(err).message;
            logger.warn('watch: reading a changed configuration failed; ending the stream', { error });
            end(`reading a changed configuration failed: ${error}`);
          },
        );
      };
      // A snapshot still being read may have been read before the missed changes: the stream ends once it is sent,
      // not in the middle of it.
      const resync = (): void => {
        if (!snapshotDone) {
          resyncAfterSnapshot = true;
          return;
        }
        end('configuration changes may have been missed; reconnect to read them');
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
        (err: unknown) => end(`reading the configuration failed: ${ensureError(err).message}`),
      );
    },
  };
}

/** A repository's refusal of the input itself (`poison`) is the caller's to fix; anything else may pass. */
function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const e = ensureError(err);
  if ((e as { poison?: unknown }).poison === true)
    return { code: grpc.status.INVALID_ARGUMENT, details: e.message };
  return { code: grpc.status.UNAVAILABLE, details: e.message };
}
