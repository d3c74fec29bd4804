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
