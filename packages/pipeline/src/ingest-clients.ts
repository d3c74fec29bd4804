/**
 * Who may publish, and for which tenants. Each client of ingest is a record in the bus's client bucket (NATS KV
 * `tl_clients`, key `client.<name>`), written by operators with `throughline clients create|revoke` and watched by
 * every ingest instance, so a credential created or revoked takes effect in the time of a watch event, without a
 * restart and without a look-up on the request path.
 *
 * A client proves who it is with a bearer token (`authorization: Bearer <token>`, only its SHA-256 is stored) or,
 * over mutual TLS, with a client certificate whose subject common name is the client's name (when its record says
 * `certificate`). It may publish events of the tenants its record lists (`*`: every tenant).
 */
import * as grpc from '@grpc/grpc-js';
import { newBearerToken, tokenSha256, type LeaseBucket, type LeaseWatch } from '@throughline/bus';
import type { Event } from '@throughline/contracts';
import type { Logger } from '@throughline/runtime';

/** A client's name: also its key's last token and, for certificate clients, the certificate's common name. */
export const CLIENT_NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** A tenant a client may publish for; `*` stands for every tenant. */
export const ALL_TENANTS = '*';
const KEY_PREFIX = 'client';
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** What the client bucket holds for one client (JSON). */
export interface IngestClientRecord {
  /** SHA-256 (hex) of its bearer token; absent for a client that authenticates with a certificate only. */
  tokenSha256?: string;
  /** Whether a verified client certificate whose common name is the client's name authenticates it. */
  certificate: boolean;
  /** The tenants it may publish events for, or `['*']`. */
  tenants: string[];
  createdAtMs: number;
}

export interface IngestClient extends IngestClientRecord {
  name: string;
  /** The record's revision in the bucket: a client replaced or revoked since no longer matches it. */
  revision: number;
  /** `tenants` as a set, or undefined for every tenant. */
  allowed: ReadonlySet<string> | undefined;
}

function toClient(name: string, revision: number, record: IngestClientRecord): IngestClient {
  const allowed = record.tenants.includes(ALL_TENANTS) ? undefined : new Set(record.tenants);
  return { name, revision, ...record, allowed };
}

export function clientKey(name: string): string {
  if (!CLIENT_NAME.test(name))
    throw new Error(`a client name is 1 to 64 characters of [A-Za-z0-9_-], got ${JSON.stringify(name)}`);
  return `${KEY_PREFIX}.${name}`;
}

/** A new client token and its digest as the record stores it. */
export function newClientToken(): { token: string; sha256: string } {
  return newBearerToken('tlc');
}

export function encodeClientRecord(record: IngestClientRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record));
}

/** The record of a bucket entry, or why it is not one (a record written by hand, or by a newer version). */
export function decodeClientRecord(value: Uint8Array): IngestClientRecord | string {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(value));
  } catch {
    return 'not JSON';
  }
  const r = raw as Partial<IngestClientRecord> | null;
  if (r === null || typeof r !== 'object') return 'not an object';
  if (r.tokenSha256 !== undefined && (typeof r.tokenSha256 !== 'string' || !SHA256_HEX.test(r.tokenSha256)))
    return 'tokenSha256 is not 64 hex digits';
  if (typeof r.certificate !== 'boolean') return 'certificate is not a boolean';
  if (r.tokenSha256 === undefined && !r.certificate) return 'neither a token nor a certificate';
  if (!Array.isArray(r.tenants) || r.tenants.length === 0 || !r.tenants.every((t) => typeof t === 'string'))
    return 'tenants is not a non-empty list of strings';
  return {
    ...(r.tokenSha256 === undefined ? {} : { tokenSha256: r.tokenSha256 }),
    certificate: r.certificate,
    tenants: r.tenants,
    createdAtMs: typeof r.createdAtMs === 'number' ? r.createdAtMs : 0,
  };
}

/** Every client in the bucket, by name (records that do not decode are left out). */
export async function listClients(bucket: LeaseBucket): Promise<IngestClient[]> {
  const out: IngestClient[] = [];
  for (const entry of await bucket.entries(KEY_PREFIX)) {
    const record = entry.value === undefined ? undefined : decodeClientRecord(entry.value);
    if (record !== undefined && typeof record !== 'string')
      out.push(toClient(entry.key.slice(KEY_PREFIX.length + 1), entry.revision, record));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Who a call is, as far as its transport tells. */
export interface CallIdentity {
  /** The `authorization` header, if the call has one. */
  authorization: string | undefined;
  /** The verified client certificate's subject common name, over mutual TLS. */
  certificateName: string | undefined;
}

export type Authentication =
  { ok: true; client: IngestClient } | { ok: false; status: { code: grpc.status; details: string } };

/**
 * The clients ingest knows, kept current by a watch of the client bucket. Lookups are in memory: a token's
 * digest or a certificate's name to its client.
 */
export class IngestClientDirectory {
  private readonly byName = new Map<string, IngestClient>();
  private readonly byDigest = new Map<string, IngestClient>();
  private watch: LeaseWatch | undefined;

  private constructor(private readonly logger: Logger) {}

  /** Starts watching `bucket`; resolves once the current clients are known. */
  static async open(bucket: LeaseBucket, logger: Logger): Promise<IngestClientDirectory> {
    const directory = new IngestClientDirectory(logger);
    directory.watch = await bucket.watch(KEY_PREFIX, (entry) =>
      directory.apply(entry.key.slice(KEY_PREFIX.length + 1), entry.value, entry.revision),
    );
    return directory;
  }

  get size(): number {
    return this.byName.size;
  }

  authenticate(call: CallIdentity): Authentication {
    const refuse = (details: string): Authentication => ({
      ok: false,
      status: { code: grpc.status.UNAUTHENTICATED, details },
    });
    if (call.authorization !== undefined) {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(call.authorization)?.[1];
      if (token === undefined) return refuse('authorization: expected "Bearer <token>"');
      const client = this.byDigest.get(tokenSha256(token));
      return client === undefined
        ? refuse('the bearer token is not a client credential of this deployment (revoked, or never created)')
        : { ok: true, client };
    }
    if (call.certificateName !== undefined) {
      const client = this.byName.get(call.certificateName);
      if (client?.certificate === true) return { ok: true, client };
      return refuse(
        `client certificate ${JSON.stringify(call.certificateName)} is not a client of this deployment (throughline clients create --certificate)`,
      );
    }
    return refuse(
      'publishing needs a client credential: authorization: Bearer <token>, or a client certificate over mutual TLS',
    );
  }

  /** True while `client`'s record is the current one (not revoked or replaced since it authenticated). */
  isCurrent(client: IngestClient): boolean {
    return this.byName.get(client.name)?.revision === client.revision;
  }

  async close(): Promise<void> {
    await this.watch?.stop();
  }

  private apply(name: string, value: Uint8Array | undefined, revision: number): void {
    const previous = this.byName.get(name);
    if (previous !== undefined) {
      this.byName.delete(name);
      if (previous.tokenSha256 !== undefined) this.byDigest.delete(previous.tokenSha256);
    }
    if (value === undefined) {
      if (previous !== undefined) this.logger.info('client revoked', { client: name });
      return;
    }
    const record = decodeClientRecord(value);
    if (typeof record === 'string') {
      this.logger.warn('client record ignored', { client: name, why: record });
      return;
    }
    const client = toClient(name, revision, record);
    this.byName.set(name, client);
    if (client.tokenSha256 !== undefined) this.byDigest.set(client.tokenSha256, client);
    this.logger.info(previous === undefined ? 'client added' : 'client replaced', {
      client: name,
      tenants: client.tenants,
    });
  }
}

/** The first event `client` may not publish (its tenant is not one of the client's), as a status naming it. */
export function tenantRefusal(
  client: IngestClient,
  events: readonly Event[],
  prefix = '',
): { code: grpc.status; details: string; index: number } | undefined {
  const allowed = client.allowed;
  if (allowed === undefined) return undefined;
  for (let i = 0; i < events.length; i++) {
    const tenant = events[i]!.tenantId;
    if (!allowed.has(tenant))
      return {
        code: grpc.status.PERMISSION_DENIED,
        index: i,
        details: `${prefix}event ${i} (event_id ${JSON.stringify(events[i]!.eventId)}): client ${JSON.stringify(client.name)} may not publish for tenant ${JSON.stringify(tenant)}`,
      };
  }
  return undefined;
}

/** The one client of an ingest that authenticates nobody (`INGEST_AUTH_OPEN=true`): every tenant. */
const OPEN: IngestClient = {
  name: 'open',
  revision: 0,
  certificate: false,
  tenants: [ALL_TENANTS],
  createdAtMs: 0,
  allowed: undefined,
};

/**
 * Ingest's access control: authenticates each call with the directory (or lets every call in, when open) and
 * counts what it refused, by status.
 */
export class IngestAccess {
  readonly refused = { unauthenticated: 0, permissionDenied: 0 };

  /** `directory` undefined: open to every client. */
  constructor(private readonly directory: IngestClientDirectory | undefined) {}

  get open(): boolean {
    return this.directory === undefined;
  }

  /** Clients known now (0 when open). */
  get clients(): number {
    return this.directory?.size ?? 0;
  }

  authenticate(call: CallIdentity): Authentication {
    if (this.directory === undefined) return { ok: true, client: OPEN };
    const result = this.directory.authenticate(call);
    if (!result.ok) this.refused.unauthenticated++;
    return result;
  }

  /** False once `client` was revoked or replaced: a stream it opened ends (UNAUTHENTICATED). */
  isCurrent(client: IngestClient): boolean {
    if (this.directory === undefined || this.directory.isCurrent(client)) return true;
    this.refused.unauthenticated++;
    return false;
  }

  /** As `tenantRefusal`, counted. */
  refusal(client: IngestClient, events: readonly Event[], prefix = ''): ReturnType<typeof tenantRefusal> {
    const refused = tenantRefusal(client, events, prefix);
    if (refused !== undefined) this.refused.permissionDenied++;
    return refused;
  }

  async close(): Promise<void> {
    await this.directory?.close();
  }
}
