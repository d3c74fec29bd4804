import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MissingBinaryError } from './errors.js';

/** Options shared by the server starters for finding their executables. */
export interface BinaryLookupOptions {
  /**
   * Directories to search for the server's executables, in order, instead of the defaults.
   * Default: the entries of `PATH` (for PostgreSQL followed by `/usr/lib/postgresql/<version>/bin`, newest first).
   */
  binDirs?: readonly string[];
}

/** Where Debian and Ubuntu put each PostgreSQL major version; none of it is on PATH. */
const POSTGRES_VERSIONS_ROOT = '/usr/lib/postgresql';

export function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter((dir) => dir.length > 0);
}

/** PATH, then `/usr/lib/postgresql/*\/bin` with the newest major version first. */
export function postgresSearchDirs(): string[] {
  let versions: string[] = [];
  try {
    versions = readdirSync(POSTGRES_VERSIONS_ROOT);
  } catch {
    // No PostgreSQL installed the Debian way: PATH is all there is.
  }
  const versioned = versions
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    .map((v) => join(POSTGRES_VERSIONS_ROOT, v, 'bin'));
  return [...pathDirs(), ...versioned];
}

export function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The full path of `binary` in the first of `dirs` that has it, or undefined. */
export function lookupBinary(binary: string, dirs: readonly string[]): string | undefined {
  for (const dir of dirs) {
    const candidate = join(dir, binary);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Like `lookupBinary`, but throws `MissingBinaryError` with the install hint when it is not there. */
export function requireBinary(
  binary: string,
  installHint: string,
  dirs: readonly string[],
  where?: string,
): string {
  const found = lookupBinary(binary, dirs);
  if (found === undefined) throw new MissingBinaryError(binary, installHint, dirs, where);
  return found;
}

/** "in /a, /b" for a custom search list, for the `MissingBinaryError` message; undefined means "on PATH". */
export function searchDescription(binDirs: readonly string[] | undefined): string | undefined {
  if (binDirs === undefined) return undefined;
  return binDirs.length > 0 ? `in ${binDirs.join(', ')}` : 'in (no directories)';
}
