import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * A secret kept in a file (a mounted Secret, a password file) — NATS credentials, the services' PostgreSQL
 * password, the config service's admin tokens all go through here: its content without one trailing line break, as
 * `echo` leaves it. Read at every use, so a rotated file takes effect without a restart. A failure names the file
 * and what it should hold (`what`: `the NATS token file`, `DATABASE_PASSWORD_FILE`), never its content.
 */
export function readSecretFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    // The code in parentheses, not after a colon: "…/admin-token: ENOENT" reads as a secret to log redaction.
    throw new Error(`cannot read ${what} ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, {
      cause: err,
    });
  }
}

/**
 * A new bearer token: `<prefix>_` and 256 random bits (base64url), with its SHA-256 as the services store it — the
 * config service's admin tokens (`tla`) and ingest's client tokens (`tlc`). The token itself is kept nowhere.
 */
export function newBearerToken(prefix: string): { token: string; sha256: string } {
  const token = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { token, sha256: tokenSha256(token) };
}

/** The SHA-256 (hex) of a bearer token: what is stored and compared instead of the token. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
