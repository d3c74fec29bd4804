/** Parsers for option values: each throws commander's InvalidArgumentError, which becomes a usage error (exit 2). */
import { InvalidArgumentError, Option } from 'commander';
import { checkNatsAuth, type NatsAuth } from '@throughline/bus';

export function positiveInt(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!/^[0-9_]+$/.test(value) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value.replace(/_/g, ''));
  if (!/^[0-9_]+$/.test(value) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('expected a whole number of 0 or more.');
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('expected a number of 0 or more.');
  return n;
}

/** A share between 0 and 1 (`0.05`), or a percentage (`5%`). */
export function share(value: string): number {
  const percent = value.endsWith('%');
  const n = Number(percent ? value.slice(0, -1) : value) / (percent ? 100 : 1);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError('expected a share between 0 and 1 (or a percentage such as 5%).');
  return n;
}

/** Events a second, or `max` (as fast as the server takes them). */
export function rate(value: string): number | 'max' {
  if (value === 'max') return 'max';
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("expected events per second (a number above 0) or 'max'.");
  return n;
}

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `2m`, `1h` (a bare number is seconds) → milliseconds. */
export function duration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  const ms = match ? Number(match[1]) * UNITS_MS[match[2] ?? 's']! : NaN;
  if (!Number.isFinite(ms) || ms <= 0)
    throw new InvalidArgumentError('expected a duration such as 30s, 2m or 500ms.');
  return ms;
}

/** `host:port` with a port between 1 and 65535. */
export function hostPort(value: string): string {
  return parseHostPort(value, 1, 'expected host:port, for example 127.0.0.1:50051.');
}

/** `host:port` to listen on: port 0 asks for any free port. */
export function listenHostPort(value: string): string {
  return parseHostPort(value, 0, 'expected host:port, for example 127.0.0.1:50051 (port 0: any free port).');
}

function parseHostPort(value: string, minPort: number, expected: string): string {
  const at = value.lastIndexOf(':');
  const port = Number(value.slice(at + 1));
  if (at <= 0 || !/^\d+$/.test(value.slice(at + 1)) || port < minPort || port > 65_535) {
    throw new InvalidArgumentError(expected);
  }
  return value;
}

/** A TCP port, 1–65535. */
export function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65_535)
    throw new InvalidArgumentError('expected a port between 1 and 65535.');
  return n;
}

/** A URL with one of `protocols` (without the colon). */
export function url(...protocols: string[]): (value: string) => string {
  return (value) => {
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new InvalidArgumentError(`expected a URL such as ${protocols[0]}://127.0.0.1.`);
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new InvalidArgumentError(`expected a ${protocols.map((p) => `${p}://`).join(' or ')} URL.`);
    }
    return value;
  };
}

/** `true`/`false` (also yes/no, on/off, 1/0). */
export function bool(value: string): boolean {
  const v = value.toLowerCase();
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  throw new InvalidArgumentError('expected true or false.');
}

/** A signed 64-bit whole number (amounts in minor units). */
export function int64(value: string): bigint {
  if (!/^-?\d+$/.test(value))
    throw new InvalidArgumentError('expected a whole number (minor units, e.g. 500000 for 5,000.00).');
  const n = BigInt(value);
  if (n > 2n ** 63n - 1n || n < -(2n ** 63n)) throw new InvalidArgumentError('out of the 64-bit range.');
  return n;
}

/** An ISO 4217 code. */
export function currency(value: string): string {
  if (!/^[A-Z]{3}$/.test(value))
    throw new InvalidArgumentError('expected a three-letter currency code such as EUR.');
  return value;
}

/** `--nats-url` (env NATS_URL): the commands that read the bus or the lease bucket, and `up`. */
export function natsUrlOption(): Option {
  return new Option('--nats-url <url>', 'NATS with JetStream')
    .argParser(url('nats'))
    .env('NATS_URL')
    .default('nats://127.0.0.1:4222');
}

/** `--partitions` (env PARTITION_COUNT): the deployment's partition count. */
export function partitionsOption(): Option {
  return new Option('--partitions <n>', 'partitions of the deployment')
    .argParser(positiveInt)
    .env('PARTITION_COUNT')
    .default(16);
}

/**
 * NATS credentials and TLS from the services' own variables (NATS_USER with NATS_PASSWORD_FILE, NATS_TOKEN_FILE,
 * NATS_NKEY_SEED_FILE, NATS_CREDS_FILE, NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE), for the commands
 * that read the bus. Contradicting ones are a usage error.
 */
export function natsAuthFromEnv(env: NodeJS.ProcessEnv = process.env): NatsAuth {
  const fields: [keyof NatsAuth, string][] = [
    ['user', 'NATS_USER'],
    ['passwordFile', 'NATS_PASSWORD_FILE'],
    ['tokenFile', 'NATS_TOKEN_FILE'],
    ['nkeySeedFile', 'NATS_NKEY_SEED_FILE'],
    ['credsFile', 'NATS_CREDS_FILE'],
    ['tlsCaFile', 'NATS_TLS_CA_FILE'],
    ['tlsCertFile', 'NATS_TLS_CERT_FILE'],
    ['tlsKeyFile', 'NATS_TLS_KEY_FILE'],
  ];
  const auth: NatsAuth = {};
  for (const [field, name] of fields) {
    const value = env[name];
    if (value !== undefined && value !== '') auth[field] = value;
  }
  const problem = checkNatsAuth(auth);
  if (problem !== undefined) throw new InvalidArgumentError(`${problem} (NATS_* variables).`);
  return auth;
}
