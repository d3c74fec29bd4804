/**
 * TLS for the public gRPC servers (ingest, config) and their clients (enrich → config). A server serves TLS from a
 * certificate and key in files, re-read while it runs (a rotated certificate is served to new connections without
 * a restart), and with a client CA requires every client to present a certificate it signed (mutual TLS).
 * Plaintext is never a fallback: a server without a certificate refuses to start unless `GRPC_PLAINTEXT=true` says
 * so explicitly (the local `throughline up`, the tests).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { z } from 'zod';

/** A boolean setting: `true`/`1` or `false`/`0`/empty, default false. */
export const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .default('false')
  .transform((v) => v === 'true' || v === '1');

export const grpcTlsSettings = z.object({
  /** The server's certificate chain (PEM). With GRPC_TLS_KEY_FILE, the server speaks TLS only. */
  GRPC_TLS_CERT_FILE: z.string().optional(),
  /** Its private key (PEM). */
  GRPC_TLS_KEY_FILE: z.string().optional(),
  /** CA (PEM) whose certificates clients must present: mutual TLS. Unset: any client may connect over TLS. */
  GRPC_TLS_CLIENT_CA_FILE: z.string().optional(),
  /** How often the files are read again, ms: a rotated certificate is served from then on. */
  GRPC_TLS_RELOAD_MS: z.coerce.number().int().min(500).default(60_000),
  /** Serve without TLS. Only when set: there is no silent fallback to plaintext. */
  GRPC_PLAINTEXT: booleanFlag,
});
export type GrpcTlsSettings = z.infer<typeof grpcTlsSettings>;

/** The server's credentials from its settings, or why it cannot start (a message naming the variables). */
export function serverCredentialsOf(s: GrpcTlsSettings):
  | {
      credentials: grpc.ServerCredentials;
      mode: 'plaintext' | 'tls' | 'mtls';
      /** Resolves once the files were read the first time (a server bound before answers no handshake). */
      loaded: Promise<void>;
    }
  | { problem: string } {
  const { GRPC_TLS_CERT_FILE: cert, GRPC_TLS_KEY_FILE: key, GRPC_TLS_CLIENT_CA_FILE: ca } = s;
  if (cert === undefined && key === undefined) {
    if (ca !== undefined)
      return { problem: 'GRPC_TLS_CLIENT_CA_FILE needs GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE' };
    if (s.GRPC_PLAINTEXT)
      return {
        credentials: grpc.ServerCredentials.createInsecure(),
        mode: 'plaintext',
        loaded: Promise.resolve(),
      };
    return {
      problem:
        'no TLS certificate: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE (and GRPC_TLS_CLIENT_CA_FILE for mutual TLS), ' +
        'or GRPC_PLAINTEXT=true to serve without TLS on a trusted network',
    };
  }
  if (cert === undefined || key === undefined)
    return { problem: 'GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE go together' };
  if (s.GRPC_PLAINTEXT) return { problem: 'GRPC_PLAINTEXT=true contradicts GRPC_TLS_CERT_FILE' };
  const pem: Partial<Record<'cert' | 'key' | 'ca', Buffer>> = {};
  for (const [name, file, slot] of [
    ['GRPC_TLS_CERT_FILE', cert, 'cert'],
    ['GRPC_TLS_KEY_FILE', key, 'key'],
    ['GRPC_TLS_CLIENT_CA_FILE', ca, 'ca'],
  ] as const) {
    if (file === undefined) continue;
    try {
      pem[slot] = readFileSync(file);
    } catch (err) {
      return { problem: `${name}: cannot read ${file}: ${(err as Error).message}` };
    }
  }
  try {
    // What the files hold must make a TLS context: a key that does not match its certificate fails here, not later.
    createSecureContext(pem);
  } catch (err) {
    return {
      problem: `GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE: not a usable certificate and key: ${(err as Error).message}`,
    };
  }
  const identity = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: cert,
    privateKeyFile: key,
    refreshIntervalMs: s.GRPC_TLS_RELOAD_MS,
  });
  const clientCa =
    ca === undefined
      ? null
      : new grpc.experimental.FileWatcherCertificateProvider({
          caCertificateFile: ca,
          refreshIntervalMs: s.GRPC_TLS_RELOAD_MS,
        });
  // grpc-js 1.14 hands this function's first argument to the credentials as the identity provider and its second
  // as the CA provider, whatever their declared names say (the test proves each way round).
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(
    identity,
    clientCa,
    clientCa !== null,
  );
  const first = (provider: grpc.experimental.CertificateProvider, kind: 'identity' | 'ca'): Promise<void> =>
    new Promise((resolve) => {
      // Listening also keeps the files watched for as long as the process runs.
      if (kind === 'identity') provider.addIdentityCertificateListener((u) => u && resolve());
      else provider.addCaCertificateListener((u) => u && resolve());
    });
  const loaded = Promise.all([
    first(identity, 'identity'),
    ...(clientCa ? [first(clientCa, 'ca')] : []),
  ]).then(() => undefined);
  return { credentials, mode: clientCa === null ? 'tls' : 'mtls', loaded };
}

/** How a client reaches a server: a CA to trust (else the system's), a certificate for mutual TLS, or plaintext. */
export interface ClientTls {
  /** CA (PEM) that signed the server's certificate. Unset: the system's CAs. */
  caFile?: string | undefined;
  /** The client's certificate chain and key (PEM), for a server that requires them. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** No TLS at all (only when the server serves plaintext). */
  plaintext: boolean;
}

/** Channel credentials for `tls`; throws a message naming the setting when a file cannot be read. */
export function channelCredentialsOf(tls: ClientTls): grpc.ChannelCredentials {
  if (tls.plaintext) {
    if (tls.caFile !== undefined || tls.certFile !== undefined)
      throw new Error('plaintext contradicts a TLS CA or certificate');
    return grpc.credentials.createInsecure();
  }
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined))
    throw new Error('a client certificate and its key go together');
  const read = (file: string | undefined, what: string): Buffer | null => {
    if (file === undefined) return null;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read the ${what} ${file}: ${(err as Error).message}`);
    }
  };
  return grpc.credentials.createSsl(
    read(tls.caFile, 'CA certificate'),
    read(tls.keyFile, 'client key'),
    read(tls.certFile, 'client certificate'),
  );
}

/**
 * The server's credentials once their files are read, or exit code 2 with the problem logged (a misconfigured
 * server never serves).
 */
export async function serverCredentialsOrExit(
  settings: GrpcTlsSettings,
  logger: {
    error(msg: string, fields?: Record<string, unknown>): void;
    info(msg: string, fields?: Record<string, unknown>): void;
  },
): Promise<grpc.ServerCredentials> {
  const tls = serverCredentialsOf(settings);
  if ('problem' in tls) {
    logger.error(`invalid configuration: ${tls.problem}`);
    process.exit(2);
  }
  await tls.loaded;
  logger.info(
    `gRPC serves ${tls.mode === 'plaintext' ? 'plaintext (GRPC_PLAINTEXT=true)' : tls.mode === 'tls' ? 'TLS' : 'mutual TLS'}`,
  );
  return tls.credentials;
}
