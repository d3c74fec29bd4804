/**
 * Who may change the configuration. Reading it (Get, List, Watch) is what the enrich stage does and stays open to
 * any client the transport lets in; `Put` needs an admin credential:
 * - a bearer token (`authorization: Bearer <token>`) whose SHA-256 is listed in `CONFIG_ADMIN_TOKENS_FILE`, one
 *   `<name> <sha256 hex>` per line (a mounted Secret: only hashes are stored, and the file is read at every Put,
 *   so adding or revoking a token needs no restart); `throughline config admin-token <name>` makes one;
 * - or, over mutual TLS, a client certificate whose subject common name is listed in `CONFIG_ADMIN_CLIENTS`;
 * - or nothing, when `CONFIG_PUT_OPEN=true` says so (the local stack on loopback).
 * With none of these configured, every Put is refused. The identity found is recorded with the change.
 */
import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { readSecretFile, tokenSha256 } from '@throughline/bus';
import type { CallCredentials, PutAuthorization } from '@throughline/pipeline';

export interface AdminAuthSettings {
  CONFIG_ADMIN_TOKENS_FILE?: string | undefined;
  CONFIG_ADMIN_CLIENTS?: string | undefined;
  CONFIG_PUT_OPEN: boolean;
  /** Client certificates are verified (mutual TLS) only with a client CA. */
  GRPC_TLS_CLIENT_CA_FILE?: string | undefined;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A contradiction or a malformed setting, said in one line; undefined when the settings are usable. */
export function adminAuthProblem(s: AdminAuthSettings): string | undefined {
  const guarded = s.CONFIG_ADMIN_TOKENS_FILE !== undefined || clientsOf(s).length > 0;
  if (s.CONFIG_PUT_OPEN && guarded)
    return 'CONFIG_PUT_OPEN=true contradicts CONFIG_ADMIN_TOKENS_FILE and CONFIG_ADMIN_CLIENTS: choose one';
  if (clientsOf(s).length > 0 && s.GRPC_TLS_CLIENT_CA_FILE === undefined)
    return 'CONFIG_ADMIN_CLIENTS names client certificates, which only mutual TLS verifies: set GRPC_TLS_CLIENT_CA_FILE';
  return undefined;
}

function clientsOf(s: AdminAuthSettings): string[] {
  return (s.CONFIG_ADMIN_CLIENTS ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '');
}

/** The token file's entries: name → SHA-256 digest. A malformed line fails, naming its number (not its content). */
export function parseTokenFile(text: string, file: string): Map<string, Buffer> {
  const tokens = new Map<string, Buffer>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [name, digest, ...rest] = line.split(/\s+/);
    if (name === undefined || digest === undefined || rest.length > 0 || !SHA256_HEX.test(digest))
      throw new Error(`${file}:${i + 1}: expected "<name> <sha256 of the token, 64 hex digits>"`);
    tokens.set(name, Buffer.from(digest, 'hex'));
  }
  return tokens;
}

/** How the service guards Put, for its start-up line. */
export function describeAdminAuth(s: AdminAuthSettings): string {
  if (s.CONFIG_PUT_OPEN) return 'open to every client (CONFIG_PUT_OPEN=true)';
  const ways = [
    ...(s.CONFIG_ADMIN_TOKENS_FILE ? ['admin tokens'] : []),
    ...(clientsOf(s).length > 0 ? [`client certificates ${clientsOf(s).join(', ')}`] : []),
  ];
  return ways.length === 0 ? 'refused: no admin credential is configured' : `needs ${ways.join(' or ')}`;
}

/** Decides whether a Put may go ahead, and who made it. */
export function createPutAuthorizer(s: AdminAuthSettings): (call: CallCredentials) => PutAuthorization {
  const clients = new Set(clientsOf(s));
  const refuse = (code: grpc.status, details: string): PutAuthorization => ({
    ok: false,
    status: { code, details },
  });
  return (call) => {
    if (s.CONFIG_PUT_OPEN) return { ok: true, by: `open:${call.peer}` };
    const header = call.metadata.get('authorization')[0];
    if (header !== undefined) {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(String(header))?.[1];
      if (token === undefined)
        return refuse(grpc.status.UNAUTHENTICATED, 'authorization: expected "Bearer <token>"');
      if (s.CONFIG_ADMIN_TOKENS_FILE === undefined)
        return refuse(grpc.status.UNAUTHENTICATED, 'this config service takes no admin tokens');
      let tokens: Map<string, Buffer>;
      try {
        tokens = parseTokenFile(
          readSecretFile(s.CONFIG_ADMIN_TOKENS_FILE, 'CONFIG_ADMIN_TOKENS_FILE'),
          s.CONFIG_ADMIN_TOKENS_FILE,
        );
      } catch (err) {
        // The caller has proved nothing yet: it learns that tokens cannot be checked, the log learns why.
        return {
          ok: false,
          status: { code: grpc.status.UNAVAILABLE, details: 'cannot check admin tokens now; retry later' },
          log: (err as Error).message,
        };
      }
      const digest = Buffer.from(tokenSha256(token), 'hex');
      for (const [name, known] of tokens)
        if (timingSafeEqual(digest, known)) return { ok: true, by: `token:${name}` };
      return refuse(grpc.status.UNAUTHENTICATED, 'the bearer token is not an admin token of this service');
    }
    if (call.clientName !== undefined) {
      if (clients.has(call.clientName)) return { ok: true, by: `cert:${call.clientName}` };
      return refuse(
        grpc.status.PERMISSION_DENIED,
        `client certificate ${JSON.stringify(call.clientName)} may not change the configuration (CONFIG_ADMIN_CLIENTS)`,
      );
    }
    if (s.CONFIG_ADMIN_TOKENS_FILE === undefined && clients.size === 0)
      return refuse(
        grpc.status.PERMISSION_DENIED,
        'configuration changes are disabled: the service has no admin credential configured (CONFIG_ADMIN_TOKENS_FILE or CONFIG_ADMIN_CLIENTS)',
      );
    return refuse(
      grpc.status.UNAUTHENTICATED,
      'Put needs an admin credential: authorization: Bearer <token>, or an admin client certificate',
    );
  };
}
