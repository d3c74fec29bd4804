/**
 * The line a throughline service logs once it serves: pino JSON with `"msg":"ready"`, the port of its /healthz,
 * /readyz and /metrics (`httpPort`), and the port of its gRPC API (`port`, ingest and config only). Start a service
 * on port 0 and read the port from here: a port picked before the service binds it can be taken meanwhile.
 */

/** Matches a whole ready line (not a line that merely mentions one). */
export const READY_LINE = /^\{.*"msg":"ready".*\}$/m;

export interface ReadyPorts {
  /** Its /healthz, /readyz and /metrics port. */
  httpPort: number;
  /** The port of its gRPC API, when it has one. */
  grpcPort: number | undefined;
}

/** The ports in a ready line; undefined for any other line. */
export function readyPortsOf(line: string): ReadyPorts | undefined {
  if (!READY_LINE.test(line)) return undefined;
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (fields.msg !== 'ready') return undefined;
  const port = (name: string): number | undefined => {
    const value = fields[name];
    return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
  };
  const httpPort = port('httpPort');
  return httpPort === undefined ? undefined : { httpPort, grpcPort: port('port') };
}
