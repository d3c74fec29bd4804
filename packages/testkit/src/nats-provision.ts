/**
 * A nats-server of at least a given version for the tests that need one (three copies of a stream are sound only
 * from nats-server 2.10 on), when the one on PATH is older: the package of a Debian suite (trixie, Debian 13, unless
 * `THROUGHLINE_DEBIAN_SUITE` names another), fetched from a Debian mirror (a registry this project's machines
 * reach), verified and unpacked into a cache inside the checkout. Nothing is installed on the machine.
 *
 * Verification: the suite's `InRelease` must carry a good signature of a key in the machine's Debian archive
 * keyring (`gpgv`; only the signed text is read), name the suite asked for and not have expired (`Valid-Until`,
 * when it has one: Debian's main archive gives none, so a replayed older trixie release would be taken — its
 * packages are still Debian's own); the package index must have the SHA-256 that signed file lists; the package
 * must have the SHA-256 the index lists. Only then is it unpacked (`dpkg-deb -x`) and its `--version` read.
 */
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { lookupBinary, pathDirs } from './binaries.js';
import { runCommand } from './command.js';
import { MissingBinaryError } from './errors.js';

/** `[major, minor, patch]` of a nats-server version string such as `v2.10.27` or `2.10.27-1+b2`. */
export function parseNatsVersion(text: string): [number, number, number] | undefined {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (m === null) return undefined;
  return [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
}

/** Whether version `a` is at least `b` (both `[major, minor, patch]`). */
export function versionAtLeast(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/** What `<binary> --version` reports, e.g. `2.9.10`. */
export async function natsServerVersion(binary: string): Promise<string> {
  const out = await runCommand({ command: binary, args: ['--version'] }, { timeoutMs: 10_000 });
  const version = parseNatsVersion(out);
  if (version === undefined) throw new Error(`${binary} --version printed no version: ${out.trim()}`);
  return version.join('.');
}

export interface NatsServerAtLeastOptions {
  /** Where a fetched server is kept. Default: `THROUGHLINE_TESTKIT_CACHE`, else `.cache` in this package. */
  cacheDir?: string;
  /** Default: `DEBIAN_MIRROR`, else `http://deb.debian.org/debian`. */
  mirror?: string;
  /** The Debian suite to take the package from. Default: `THROUGHLINE_DEBIAN_SUITE`, else `trixie`. */
  suite?: string;
  /** The keyring `InRelease` must be signed by. Default: Debian's archive keyring. */
  keyring?: string;
  /** Directories searched before fetching. Default: PATH. */
  binDirs?: readonly string[];
}

const DEFAULT_MIRROR = 'http://deb.debian.org/debian';
const DEFAULT_SUITE = 'trixie';
const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** This package's own cache directory (`packages/testkit/.cache`), inside the checkout, ignored by git. */
function defaultCacheDir(): string {
  const fromEnv = process.env.THROUGHLINE_TESTKIT_CACHE;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '.cache');
}

const found = new Map<string, Promise<string>>();

/**
 * The path of a nats-server whose version is at least `minimum` (`"2.10"`): `THROUGHLINE_NATS_SERVER` when set (it
 * must be new enough), else the one on PATH when it is new enough, else one fetched from Debian as described above
 * and kept in the cache for the next call. Throws `MissingBinaryError` saying how to provide one when neither works.
 */
export function natsServerAtLeast(minimum: string, opts: NatsServerAtLeastOptions = {}): Promise<string> {
  const key = JSON.stringify([minimum, opts]);
  let pending = found.get(key);
  if (pending === undefined) {
    pending = findOrFetch(minimum, opts);
    pending.catch(() => found.delete(key));
    found.set(key, pending);
  }
  return pending;
}

async function findOrFetch(minimum: string, opts: NatsServerAtLeastOptions): Promise<string> {
  const wanted = parseNatsVersion(minimum);
  if (wanted === undefined) throw new Error(`not a version: ${JSON.stringify(minimum)}`);
  const explicit = process.env.THROUGHLINE_NATS_SERVER;
  if (explicit !== undefined && explicit !== '') {
    const version = await natsServerVersion(explicit);
    if (!versionAtLeast(parseNatsVersion(version)!, wanted))
      throw new Error(
        `THROUGHLINE_NATS_SERVER=${explicit} is nats-server ${version}; ${minimum} or newer is needed`,
      );
    return explicit;
  }
  const onPath = lookupBinary('nats-server', opts.binDirs ?? pathDirs());
  const pathVersion =
    onPath === undefined ? undefined : await natsServerVersion(onPath).catch(() => undefined);
  if (pathVersion !== undefined && versionAtLeast(parseNatsVersion(pathVersion)!, wanted)) return onPath!;
  const cached = await cachedAtLeast(wanted, opts.cacheDir ?? defaultCacheDir());
  if (cached !== undefined) return cached;
  try {
    return await fetchFromDebian(wanted, opts);
  } catch (err) {
    const have = onPath === undefined ? 'none on PATH' : `${pathVersion ?? 'an unknown version'} on PATH`;
    throw Object.assign(
      new MissingBinaryError(
        'nats-server',
        `apt-get install -t trixie nats-server, or THROUGHLINE_NATS_SERVER=<path of a nats-server ${minimum}+>`,
        opts.binDirs ?? pathDirs(),
        `at version ${minimum} or newer (${have}; fetching Debian's failed: ${(err as Error).message})`,
      ),
      { cause: err },
    );
  }
}

/** A server fetched earlier, new enough, if the cache has one. */
async function cachedAtLeast(wanted: readonly number[], cacheDir: string): Promise<string | undefined> {
  let entries: string[] = [];
  try {
    entries = readdirSync(cacheDir).filter((e) => e.startsWith('nats-server-'));
  } catch {
    return undefined;
  }
  for (const entry of entries.sort().reverse()) {
    const binary = join(cacheDir, entry, 'nats-server');
    const version = await natsServerVersion(binary).catch(() => undefined);
    if (version !== undefined && versionAtLeast(parseNatsVersion(version)!, wanted)) return binary;
  }
  return undefined;
}

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${res.statusText}`);
  return Buffer.from(await res.arrayBuffer());
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Debian's architecture name for this process's. */
function debianArch(): string {
  const arch = { x64: 'amd64', arm64: 'arm64', ppc64: 'ppc64el', s390x: 's390x' }[process.arch as string];
  if (arch === undefined) throw new Error(`no Debian architecture for ${process.arch}`);
  return arch;
}

/** The fields of the first paragraph of a Debian control file (`Packages`) whose `Package` is `name`. */
export function findPackage(index: string, name: string): Record<string, string> | undefined {
  for (const paragraph of index.split(/\n\n+/)) {
    if (!paragraph.startsWith(`Package: ${name}\n`)) continue;
    const fields: Record<string, string> = {};
    for (const line of paragraph.split('\n')) {
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m !== null) fields[m[1]!] = m[2]!;
    }
    return fields;
  }
  return undefined;
}

/**
 * Refuses a signed release file that is not the suite asked for (another suite's, served in its place) or has
 * expired (`Valid-Until` passed: an old, signed release replayed).
 */
export function checkRelease(release: string, suite: string, nowMs: number = Date.now()): void {
  const field = (name: string): string | undefined =>
    new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(release)?.[1]?.trim();
  if (field('Codename') !== suite && field('Suite') !== suite)
    throw new Error(
      `the signed release is ${field('Codename') ?? field('Suite') ?? 'unnamed'}, not ${suite}`,
    );
  const validUntil = field('Valid-Until');
  if (validUntil !== undefined && Date.parse(validUntil) < nowMs)
    throw new Error(`${suite}'s signed release expired on ${validUntil}`);
}

/** The SHA-256 a signed `Release` lists for `path` (e.g. `main/binary-amd64/Packages.gz`). */
export function releaseSha256(release: string, path: string): string | undefined {
  const section = /^SHA256:\n((?:[ \t].*\n?)*)/m.exec(release)?.[1] ?? '';
  for (const line of section.split('\n')) {
    const [hash, , file] = line.trim().split(/\s+/);
    if (file === path) return hash;
  }
  return undefined;
}

async function fetchFromDebian(wanted: readonly number[], opts: NatsServerAtLeastOptions): Promise<string> {
  const mirror = (opts.mirror ?? process.env.DEBIAN_MIRROR ?? DEFAULT_MIRROR).replace(/\/+$/, '');
  const suite = opts.suite ?? process.env.THROUGHLINE_DEBIAN_SUITE ?? DEFAULT_SUITE;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(cacheDir, 'fetch-'));
  try {
    // The suite's release file, and its signature checked against the machine's Debian keyring.
    writeFileSync(join(work, 'InRelease'), await download(`${mirror}/dists/${suite}/InRelease`));
    await runCommand({
      command: 'gpgv',
      args: [
        '--keyring',
        opts.keyring ?? DEBIAN_KEYRING,
        '--output',
        join(work, 'Release'),
        join(work, 'InRelease'),
      ],
    });
    const release = readFileSync(join(work, 'Release'), 'utf8');
    checkRelease(release, suite);
    const indexPath = `main/binary-${debianArch()}/Packages.gz`;
    const indexHash = releaseSha256(release, indexPath);
    if (indexHash === undefined) throw new Error(`${suite}'s Release lists no ${indexPath}`);
    const indexGz = await download(`${mirror}/dists/${suite}/${indexPath}`);
    if (sha256(indexGz) !== indexHash)
      throw new Error(`${indexPath} does not match the SHA-256 ${suite} signed`);
    const pkg = findPackage(gunzipSync(indexGz).toString('utf8'), 'nats-server');
    if (pkg?.Filename === undefined || pkg.SHA256 === undefined || pkg.Version === undefined)
      throw new Error(`${suite} has no nats-server package`);
    const version = parseNatsVersion(pkg.Version);
    if (version === undefined || !versionAtLeast(version, wanted))
      throw new Error(`${suite}'s nats-server is ${pkg.Version}, older than ${wanted.join('.')}`);

    const target = join(cacheDir, `nats-server-${pkg.Version.replace(/[^A-Za-z0-9.+-]/g, '_')}`);
    const binary = join(target, 'nats-server');
    if (existsSync(binary)) return binary;
    const deb = await download(`${mirror}/${pkg.Filename}`);
    if (sha256(deb) !== pkg.SHA256)
      throw new Error(`${pkg.Filename} does not match the SHA-256 of ${suite}'s index`);
    writeFileSync(join(work, 'nats-server.deb'), deb);
    const root = join(work, 'root');
    await runCommand({ command: 'dpkg-deb', args: ['-x', join(work, 'nats-server.deb'), root] });
    const unpacked = lookupBinary('nats-server', [join(root, 'usr/sbin'), join(root, 'usr/bin')]);
    if (unpacked === undefined) throw new Error(`${pkg.Filename} holds no nats-server executable`);
    const staged = join(work, 'staged');
    mkdirSync(staged);
    renameSync(unpacked, join(staged, 'nats-server'));
    await natsServerVersion(join(staged, 'nats-server'));
    try {
      renameSync(staged, target);
    } catch (err) {
      // Another test process put the same version there first: use theirs.
      if (!existsSync(binary)) throw err;
    }
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
