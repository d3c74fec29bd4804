/** Where the testkit reports what it starts and stops. Packages never print; tests pass one in if they care. */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

/** The default logger: says nothing. */
export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
};
