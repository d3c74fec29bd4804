import type { ClientReadableStream } from '@grpc/grpc-js';
import { ConfigChange, type ConfigServiceClient, type ListConfigsResponse } from '@throughline/contracts';
import { ensureError, silentLogger, sleep, type Logger } from '@throughline/runtime';
import { ConfigCache, ConfigSnapshot } from './config-snapshot.js';

export interface ConfigFeedOptions {
  client: ConfigServiceClient;
  cache: ConfigCache;
  logger?: Logger;
  /** First pause before reconnecting a broken Watch; doubles up to `reconnectMaxMs`. Default 200 ms. */
  reconnectInitialMs?: number;
  /** Default 5000 ms. */
  reconnectMaxMs?: number;
}

/**
 * Keeps a `ConfigCache` current: loads the whole configuration once (List), then follows every change (Watch,
 * a server stream), reconnecting with backoff when the stream breaks. No call to the config service per event.
 */
export class ConfigFeed {
  private readonly opts: Required<ConfigFeedOptions>;
  private readonly stopController = new AbortController();
  private call: ClientReadableStream<ConfigChange> | undefined;
  private loop: Promise<void> | undefined;

  constructor(options: ConfigFeedOptions) {
    this.opts = { logger: silentLogger, reconnectInitialMs: 200, reconnectMaxMs: 5000, ...options };
  }

  /** Loads the configuration (retrying until the service answers) and starts following changes. */
  async start(): Promise<void> {
    let delay = this.opts.reconnectInitialMs;
    for (;;) {
      try {
        const list = await this.list();
        this.opts.cache.replace(new ConfigSnapshot(list.configs));
        this.opts.logger.info('configuration loaded', {
          tenants: list.configs.length,
          version: String(list.version),
        });
        break;
      } catch (err) {
        if (this.stopController.signal.aborted) return;
        this.opts.logger.warn('config service not reachable; retrying', {
          error: ensureError(err).message,
          retryInMs: delay,
        });
        await sleep(delay, this.stopController.signal);
        delay = Math.min(delay * 2, this.opts.reconnectMaxMs);
      }
    }
    this.loop = this.follow();
  }

  async stop(): Promise<void> {
    this.stopController.abort();
    this.call?.cancel();
    await this.loop;
  }

  private list(): Promise<ListConfigsResponse> {
    return new Promise((resolve, reject) => {
      this.opts.client.list({}, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  private async follow(): Promise<void> {
    let delay = this.opts.reconnectInitialMs;
    while (!this.stopController.signal.aborted) {
      const startedAt = Date.now();
      const reason = await this.watchOnce();
      if (this.stopController.signal.aborted) return;
      if (Date.now() - startedAt > 10_000) delay = this.opts.reconnectInitialMs;
      this.opts.logger.warn('config watch ended; reconnecting', { reason, retryInMs: delay });
      await sleep(delay, this.stopController.signal);
      delay = Math.min(delay * 2, this.opts.reconnectMaxMs);
    }
  }

  /**
   * Runs one Watch stream until it ends; resolves with why it ended. Every stream starts from the whole
   * configuration (`afterVersion` 0), not from the highest version held: versions are drawn before commit, so a
   * change with a lower version than one already seen can commit later — while no stream was open — and asking
   * only for newer versions would skip it for good. The cache keeps, per tenant, the newer of what it has and what
   * arrives, so the snapshot replays nothing.
   */
  private watchOnce(): Promise<string> {
    return new Promise((resolve) => {
      const call = this.opts.client.watch({ afterVersion: 0n });
      this.call = call;
      call.on('data', (change: ConfigChange) => {
        if (change.config !== undefined) {
          const before = this.opts.cache.current;
          this.opts.cache.apply(change);
          // Every (re)connect replays the whole configuration: only what it changed is worth a line.
          if (this.opts.cache.current === before) return;
          this.opts.logger.info('configuration changed', {
            tenant: change.config.tenantId,
            version: String(change.config.version),
          });
        }
      });
      call.on('error', (err: Error) => resolve(err.message));
      call.on('end', () => resolve('stream ended'));
    });
  }
}
