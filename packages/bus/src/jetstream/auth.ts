/**
 * How a service proves who it is to NATS, and how it checks the server: one of user and password, a token, an
 * NKEY seed or a credentials file (JWT and seed), each read from a file (a mounted Secret) at every connection and
 * reconnection, so a rotated credential is used without a restart; and TLS with a CA, and a client certificate when
 * the server asks for one.
 */
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type ConnectionOptions,
} from '@nats-io/nats-core';
import { BusError, BusErrorCode } from '../errors.js';
import { readSecretFile } from '../secret-file.js';

export interface NatsAuth {
  /** With `passwordFile`: user and password. */
  user?: string;
  passwordFile?: string;
  tokenFile?: string;
  /** An NKEY user seed (`SU…`). */
  nkeySeedFile?: string;
  /** A `.creds` file: the user's JWT and NKEY seed (decentralized authentication). */
  credsFile?: string;
  /** The CA that signed the server's certificate; with it the connection requires TLS. */
  tlsCaFile?: string;
  /** A client certificate and key, for a server that verifies clients (mutual TLS). */
  tlsCertFile?: string;
  tlsKeyFile?: string;
}

/** Why `auth` cannot be used, or undefined when it can. */
export function checkNatsAuth(auth: NatsAuth): string | undefined {
  const methods = [
    auth.passwordFile !== undefined || auth.user !== undefined ? 'user and password' : undefined,
    auth.tokenFile !== undefined ? 'token' : undefined,
    auth.nkeySeedFile !== undefined ? 'NKEY seed' : undefined,
    auth.credsFile !== undefined ? 'credentials file' : undefined,
  ].filter((m) => m !== undefined);
  if (methods.length > 1) return `choose one way to authenticate to NATS, not ${methods.join(' and ')}`;
  if ((auth.user === undefined) !== (auth.passwordFile === undefined))
    return 'a NATS user needs its password file, and a password file its user';
  if ((auth.tlsCertFile === undefined) !== (auth.tlsKeyFile === undefined))
    return 'a NATS client certificate needs its key, and a key its certificate';
  return undefined;
}

/** A NATS secret's file, read at this (re)connection; a failure is the connection's. */
function readSecret(file: string, what: string): string {
  try {
    return readSecretFile(file, `the NATS ${what} file`);
  } catch (err) {
    throw new BusError(BusErrorCode.connectFailed, (err as Error).message, { cause: err as Error });
  }
}

/** The connection options for `auth`; the files are read at every (re)connection. */
export function natsAuthOptions(auth: NatsAuth): Partial<ConnectionOptions> {
  const problem = checkNatsAuth(auth);
  if (problem !== undefined) throw new BusError(BusErrorCode.invalidArgument, problem);
  const encoder = new TextEncoder();
  let authenticator: Authenticator | undefined;
  if (auth.user !== undefined && auth.passwordFile !== undefined) {
    const file = auth.passwordFile;
    authenticator = usernamePasswordAuthenticator(auth.user, () => readSecret(file, 'password'));
  } else if (auth.tokenFile !== undefined) {
    const file = auth.tokenFile;
    authenticator = tokenAuthenticator(() => readSecret(file, 'token'));
  } else if (auth.nkeySeedFile !== undefined) {
    const file = auth.nkeySeedFile;
    authenticator = nkeyAuthenticator(() => encoder.encode(readSecret(file, 'NKEY seed')));
  } else if (auth.credsFile !== undefined) {
    const file = auth.credsFile;
    authenticator = credsAuthenticator(() => encoder.encode(readSecret(file, 'credentials')));
  }
  const tls =
    auth.tlsCaFile === undefined && auth.tlsCertFile === undefined
      ? undefined
      : {
          ...(auth.tlsCaFile === undefined ? {} : { caFile: auth.tlsCaFile }),
          ...(auth.tlsCertFile === undefined ? {} : { certFile: auth.tlsCertFile, keyFile: auth.tlsKeyFile }),
        };
  return {
    ...(authenticator === undefined ? {} : { authenticator }),
    ...(tls === undefined ? {} : { tls }),
  };
}
