/** TLS flags of the commands that call a gRPC API (load, config), and the credentials they make. */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { Option, type Command } from 'commander';
import { CliError } from './errors.js';

export interface TlsFlags {
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** Adds --tls, --tls-ca, --tls-cert and --tls-key (each also from THROUGHLINE_TLS_*). */
export function addTlsOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--tls', "use TLS, trusting the system's CAs (implied by --tls-ca)").env('THROUGHLINE_TLS'),
    )
    .addOption(
      new Option('--tls-ca <file>', "CA (PEM) that signed the server's certificate").env(
        'THROUGHLINE_TLS_CA',
      ),
    )
    .addOption(
      new Option('--tls-cert <file>', 'client certificate (PEM), for a server that requires mutual TLS').env(
        'THROUGHLINE_TLS_CERT',
      ),
    )
    .addOption(new Option('--tls-key <file>', 'its private key (PEM)').env('THROUGHLINE_TLS_KEY'));
}

/** Whether the flags ask for TLS (--tls, --tls-ca or --tls-cert). */
export function usesTls(flags: TlsFlags): boolean {
  return flags.tls === true || flags.tlsCa !== undefined || flags.tlsCert !== undefined;
}

/** Plaintext unless a TLS flag is given (the local stack of `throughline up` serves plaintext). */
export function credentialsOf(flags: TlsFlags): grpc.ChannelCredentials {
  if (!usesTls(flags)) return grpc.credentials.createInsecure();
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined))
    throw new CliError('--tls-cert and --tls-key go together');
  const read = (file: string | undefined, flag: string): Buffer | null => {
    if (file === undefined) return null;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new CliError(`${flag}: cannot read ${file}: ${(err as Error).message}`, { cause: err });
    }
  };
  return grpc.credentials.createSsl(
    read(flags.tlsCa, '--tls-ca'),
    read(flags.tlsKey, '--tls-key'),
    read(flags.tlsCert, '--tls-cert'),
  );
}
