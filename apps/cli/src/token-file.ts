/** Bearer tokens the CLI sends (an admin token to the ConfigService, a client token to ingest), read from files. */
import { readSecretFile } from '@throughline/bus';
import { CliError, ExitCode } from './errors.js';
import { usesTls, type TlsFlags } from './tls-options.js';

/**
 * The token in `file`: one line of printable ASCII (what `config admin-token` and `clients create` print).
 * Anything else is refused without echoing it — a token file that caught other output must not end up in an
 * error message. `what` names the file (`the admin token file`), `maker` the command that makes such a token.
 */
export function readTokenFile(file: string, what: string, maker: string): string {
  let token: string;
  try {
    token = readSecretFile(file, what).trim();
  } catch (err) {
    throw new CliError((err as Error).message, { exitCode: ExitCode.usage, cause: err });
  }
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new CliError(
      `${what} ${file} does not hold one token (one line of printable characters, as \`${maker}\` prints it)`,
      { exitCode: ExitCode.usage },
    );
  return token;
}

/** Says on stderr that a token is about to cross the network in the clear. */
export function warnTokenWithoutTls(flags: TlsFlags, what: string): void {
  if (!usesTls(flags))
    process.stderr.write(
      `warning: sending the ${what} without TLS: anyone on the path can read it (use --tls or --tls-ca unless a mesh encrypts)\n`,
    );
}
