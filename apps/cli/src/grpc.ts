/** gRPC client helpers: a reachability check that fails in one line, and promise-returning unary calls. */
import * as grpc from '@grpc/grpc-js';
import { CliError } from './errors.js';
import { probe } from './up/preflight.js';

/** Waits until the channel to `address` is connected, or fails with a message naming `service` and what to do. */
export async function ensureReachable(
  client: grpc.Client,
  service: string,
  address: string,
  timeoutMs = 5000,
): Promise<void> {
  const flag = service === 'IngestService' ? '--target' : '--config-address';
  const at = address.lastIndexOf(':');
  const refused = await probe(
    address.slice(0, at).replace(/^\[|\]$/g, ''),
    Number(address.slice(at + 1)),
    timeoutMs,
  );
  if (refused) {
    throw new CliError(
      `cannot reach ${service} at ${address} (${refused}): is the stack running? Start it with \`throughline up\`, or point to it with ${flag}`,
    );
  }
  await new Promise<void>((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (err) => {
      if (err) {
        reject(
          new CliError(
            `cannot reach ${service} at ${address} within ${timeoutMs / 1000} s: is the stack running? Start it with \`throughline up\`, or point to it with ${flag}`,
            { cause: err },
          ),
        );
      } else resolve();
    });
  });
}

type Callback<Res> = (err: grpc.ServiceError | null, res: Res) => void;

/** Calls a unary method with a deadline: `call((options, done) => client.get(request, new Metadata(), options, done))`. */
export function call<Res>(
  invoke: (options: Partial<grpc.CallOptions>, done: Callback<Res>) => unknown,
  timeoutMs = 10_000,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    invoke({ deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** The name of a gRPC status code (`UNAVAILABLE`), or the error's code as it is. */
export function statusName(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') return grpc.status[code] ?? String(code);
  return typeof code === 'string' ? code : 'UNKNOWN';
}

export function isServiceError(err: unknown): err is grpc.ServiceError {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number' && 'metadata' in err;
}

/** JSON with bigints as strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}
