/** Ctrl-C handling for long-running commands: the first SIGINT/SIGTERM asks to stop, a second one exits at once. */

export interface Interrupt {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function interruptSignal(): Interrupt {
  const controller = new AbortController();
  const handler = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}
