import type { Logger } from './logger.js';
import type { BinaryLookupOptions } from './binaries.js';

/** A server started for a test: isolated port and data directory, killable and restartable. */
export interface ServerHandle {
  /** The TCP port on 127.0.0.1; stays the same across `kill()`/`restart()`. */
  readonly port: number;
  /** How clients connect, e.g. `nats://127.0.0.1:PORT`. */
  readonly url: string;
  /** The server's process id, `undefined` while it is not running. */
  readonly pid: number | undefined;
  /** What the server printed (its log), over all its runs: the last 256 KiB. */
  output(): string;
  /** Shuts the server down gracefully and removes its data directory. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILLs the server (and its workers), keeping the data directory for `restart()`; resolves once all are gone. */
  kill(): Promise<void>;
  /** Starts the server again on the same port with the same data (after a graceful stop if it is running); resolves when it is ready. */
  restart(): Promise<void>;
}

/** Options every server starter accepts. */
export interface ServerStartOptions extends BinaryLookupOptions {
  /** Told what is started, stopped and what died unexpectedly. Default: silent. */
  logger?: Logger;
  /** How long the server may take to become ready, per start or restart. Default: 30_000 ms. */
  startTimeoutMs?: number;
  /** How long a graceful stop may take before the server is SIGKILLed. Default: 10_000 ms. */
  stopTimeoutMs?: number;
}
