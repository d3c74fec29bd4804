/**
 * LISTEN tl_config on a dedicated connection (notifications need one session that stays open), with reconnects.
 */
import pg from 'pg';
import { StoreError, StoreErrorCode, toStoreError } from './errors.js';

/** The channel the tenant_configs trigger notifies on, with payload `<tenant_id>:<version>`. */
export const CONFIG_CHANNEL = 'tl_config';

export interface ConfigListenOptions {
  /**
   * Called after the connection was lost and is listening again. Changes committed in between were not heard:
   * re-read the configuration (for example with `list()`).
   */
  onResync?: () => void;
  /** Told about every connection failure and every listener that threw; the listener keeps going. */
  onError?: (err: StoreError) => void;
  /** Wait between reconnect attempts, in milliseconds. Default 1,000. */
  reconnectDelayMs?: number;
}

/** Splits `<tenant_id>:<version>` at the last colon (tenant ids may contain colons, versions cannot). */
export function parseConfigPayload(payload: string): { tenantId: string; version: bigint } | undefined {
  const at = payload.lastIndexOf(':');
  if (at <= 0) return undefined;
  const version = payload.slice(at + 1);
  if (!/^\d+$/.test(version)) return undefined;
  return { tenantId: payload.slice(0, at), version: BigInt(version) };
}

export async function listenForConfigChanges(
  pool: pg.Pool,
  onChange: (tenantId: string, version: bigint) => void,
  opts: ConfigListenOptions = {},
): Promise<() => Promise<void>> {
  const reconnectDelayMs = opts.reconnectDelayMs ?? 1000;
  const report = (err: StoreError): void => opts.onError?.(err);
  let stopped = false;
  let current: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;

  const onNotification = (msg: pg.Notification): void => {
    if (msg.channel !== CONFIG_CHANNEL || msg.payload === undefined) return;
    const change = parseConfigPayload(msg.payload);
    if (change === undefined) {
      report(
        new StoreError(StoreErrorCode.listenFailed, `unexpected ${CONFIG_CHANNEL} payload ${msg.payload}`),
      );
      return;
    }
    try {
      onChange(change.tenantId, change.version);
    } catch (err) {
      report(toStoreError(StoreErrorCode.listenFailed, 'config change listener threw', err));
    }
  };

  async function connect(): Promise<pg.Client> {
    // pool.options is what the pool itself builds its clients from.
    const client = new pg.Client(pool.options);
    client.on('notification', onNotification);
    client.on('error', (err) => lost(client, err));
    client.on('end', () => lost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${CONFIG_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined); // the connect error below is what matters
      throw toStoreError(StoreErrorCode.listenFailed, `cannot LISTEN ${CONFIG_CHANNEL}`, err);
    }
    return client;
  }

  function lost(client: pg.Client, err: Error): void {
    if (stopped || client !== current) return;
    current = undefined;
    client.removeAllListeners('end');
    report(toStoreError(StoreErrorCode.listenFailed, `${CONFIG_CHANNEL} connection lost`, err));
    client.end().catch(() => undefined); // already broken; ending only frees the socket
    schedule();
  }

  function schedule(): void {
    timer = setTimeout(() => {
      timer = undefined;
      void reconnect();
    }, reconnectDelayMs);
  }

  async function reconnect(): Promise<void> {
    let client: pg.Client;
    try {
      client = await connect();
    } catch (err) {
      if (stopped) return;
      report(toStoreError(StoreErrorCode.listenFailed, 'reconnect failed', err));
      schedule();
      return;
    }
    if (stopped) {
      client.removeAllListeners('end');
      await client
        .end()
        .catch((err: unknown) => report(toStoreError(StoreErrorCode.listenFailed, 'end', err)));
      return;
    }
    current = client;
    try {
      opts.onResync?.();
    } catch (err) {
      report(toStoreError(StoreErrorCode.listenFailed, 'resync listener threw', err));
    }
  }

  current = await connect();
  return async () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    const client = current;
    current = undefined;
    if (client !== undefined) {
      client.removeAllListeners('end');
      await client.end();
    }
  };
}
