import type { ServiceProcess } from './process.js';

/** The ports a throughline service reports in its `ready` log line. */
export interface ReadyPorts {
  /** Its /healthz, /readyz and /metrics port. */
  httpPort: number;
  /**
   * The port it serves its gRPC API on; throws, naming the service, if its ready line has none (ingest and
   * config report one, the stage services do not).
   */
  grpcPort(): number;
}

const READY_LINE = /^\{.*"msg":"ready".*\}$/m;

/**
 * Waits for the service's JSON `ready` line and returns the ports in it. Start services on port 0 and read
 * their ports here: a port picked before the service binds it can be taken by another process meanwhile.
 */
export async function waitForReady(
  service: ServiceProcess,
  opts: { timeoutMs?: number } = {},
): Promise<ReadyPorts> {
  const [line] = await service.waitForOutput(READY_LINE, opts);
  const fields = JSON.parse(line) as Record<string, unknown>;
  const port = (name: string): number | undefined => {
    const value = fields[name];
    return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
  };
  const httpPort = port('httpPort');
  if (httpPort === undefined) throw new Error(`${service.name}: its ready line has no httpPort: ${line}`);
  const grpc = port('port');
  return {
    httpPort,
    grpcPort() {
      if (grpc === undefined)
        throw new Error(`${service.name}: its ready line reports no gRPC port: ${line}`);
      return grpc;
    },
  };
}
