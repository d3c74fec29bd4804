import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkRelease,
  findPackage,
  natsServerAtLeast,
  natsServerVersion,
  parseNatsVersion,
  releaseSha256,
  versionAtLeast,
} from '../src/nats-provision.js';
import { isMissingBinaryError } from '../src/errors.js';

const MIRROR = 'http://deb.debian.org/debian';

describe('nats-server versions and Debian indexes', () => {
  it('reads versions and compares them', () => {
    expect(parseNatsVersion('nats-server: v2.9.10')).toEqual([2, 9, 10]);
    expect(parseNatsVersion('2.10.27-1+b2')).toEqual([2, 10, 27]);
    expect(parseNatsVersion('2.10')).toEqual([2, 10, 0]);
    expect(parseNatsVersion('none')).toBeUndefined();
    expect(versionAtLeast([2, 9, 10], [2, 10, 0])).toBe(false);
    expect(versionAtLeast([2, 10, 0], [2, 10, 0])).toBe(true);
    expect(versionAtLeast([3, 0, 0], [2, 10, 0])).toBe(true);
  });

  it('finds a package and a signed hash', () => {
    const index =
      'Package: nats-server-doc\nVersion: 1\nFilename: a.deb\n\n' +
      'Package: nats-server\nVersion: 2.10.27-1\nFilename: pool/main/n/nats-server/x.deb\nSHA256: abc\n\n';
    expect(findPackage(index, 'nats-server')).toMatchObject({ Version: '2.10.27-1', SHA256: 'abc' });
    expect(findPackage(index, 'redis')).toBeUndefined();
    const release =
      'Suite: trixie\nMD5Sum:\n 111 10 main/binary-amd64/Packages.gz\nSHA256:\n 222 10 main/binary-amd64/Packages.gz\n 333 5 main/x\n';
    expect(releaseSha256(release, 'main/binary-amd64/Packages.gz')).toBe('222');
    expect(releaseSha256(release, 'main/y')).toBeUndefined();
  });

  it('takes a signed release only for the suite asked for, and not once it expired', () => {
    expect(() => checkRelease('Suite: stable\nCodename: trixie\n', 'trixie')).not.toThrow();
    expect(() => checkRelease('Suite: stable\nCodename: trixie\n', 'stable')).not.toThrow();
    expect(() => checkRelease('Suite: oldstable\nCodename: bookworm\n', 'trixie')).toThrow(
      /bookworm, not trixie/,
    );
    const dated = 'Codename: trixie\nValid-Until: Sat, 01 Jan 2022 00:00:00 UTC\n';
    expect(() => checkRelease(dated, 'trixie')).toThrow(/expired/);
    expect(() => checkRelease(dated, 'trixie', Date.parse('2021-12-01T00:00:00Z'))).not.toThrow();
  });
});

/**
 * Against Debian's mirror (reachable from this project's machines), through a local copy of it that can be made to
 * lie: a fetched server must be the genuine, signed one.
 */
describe("a nats-server fetched from Debian's packages", () => {
  const dirs: string[] = [];
  const cacheDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'throughline-nats-cache-'));
    dirs.push(dir);
    return dir;
  };
  let server: Server;
  let tamper: { path: RegExp; change?: (body: Buffer) => Buffer; from?: string } | undefined;
  const failure = (minimum: string): Promise<Error> =>
    natsServerAtLeast(minimum, { mirror, cacheDir: cacheDir(), binDirs: [] }).then(
      (binary) => {
        throw new Error(`expected a refusal, got ${binary}`);
      },
      (err: unknown) => err as Error,
    );
  let mirror = '';
  const saved = { server: process.env.THROUGHLINE_NATS_SERVER, suite: process.env.THROUGHLINE_DEBIAN_SUITE };
  beforeAll(async () => {
    // What these tests check is the fetch itself: no server named, the default suite.
    delete process.env.THROUGHLINE_NATS_SERVER;
    delete process.env.THROUGHLINE_DEBIAN_SUITE;
    server = createServer((req, res) => {
      void (async () => {
        const hit = tamper !== undefined && tamper.path.test(req.url ?? '');
        const upstream = await fetch(`${MIRROR}${hit && tamper?.from !== undefined ? tamper.from : req.url}`);
        let body: Buffer = Buffer.from(await upstream.arrayBuffer());
        if (hit && tamper?.change !== undefined) body = tamper.change(body);
        res.writeHead(upstream.status).end(body);
      })().catch((err: Error) => res.writeHead(502).end(err.message));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    mirror = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  afterAll(async () => {
    if (saved.server !== undefined) process.env.THROUGHLINE_NATS_SERVER = saved.server;
    if (saved.suite !== undefined) process.env.THROUGHLINE_DEBIAN_SUITE = saved.suite;
    await new Promise((resolve) => server.close(resolve));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('fetches, verifies and keeps one at least as new as asked when PATH has none', async () => {
    tamper = undefined;
    const cache = cacheDir();
    const binary = await natsServerAtLeast('2.10', { mirror, cacheDir: cache, binDirs: [] });
    expect(binary.startsWith(cache)).toBe(true);
    expect(versionAtLeast(parseNatsVersion(await natsServerVersion(binary))!, [2, 10, 0])).toBe(true);
    // Kept: asked again with the mirror gone, the cached one is used.
    expect(
      await natsServerAtLeast('2.10.0', { mirror: 'http://127.0.0.1:1', cacheDir: cache, binDirs: [] }),
    ).toBe(binary);
  }, 180_000);

  it('refuses a package index the suite did not sign', async () => {
    tamper = { path: /Packages\.gz$/, change: () => gzipSync('Package: nats-server\nVersion: 9.9.9\n') };
    const err = await failure('2.10');
    expect(isMissingBinaryError(err)).toBe(true);
    expect(String(err.message)).toMatch(/does not match the SHA-256 trixie signed/);
    expect(String(err.message)).toMatch(/THROUGHLINE_NATS_SERVER/);
  }, 180_000);

  it('refuses a release file whose signature does not hold', async () => {
    tamper = {
      path: /InRelease$/,
      change: (body) => {
        // One signed line changed: the index it lists would be someone else's.
        const text = body.toString('utf8');
        const changed = text.replace(/^Codename: (\w+)$/m, 'Codename: $1x');
        if (changed === text) throw new Error('InRelease has no Codename line to change');
        return Buffer.from(changed);
      },
    };
    const err = await failure('2.10');
    expect(isMissingBinaryError(err)).toBe(true);
    expect(String(err.message)).toMatch(/gpgv/);
  }, 180_000);

  it("refuses another suite's release, signed by Debian, served in place of the one asked for", async () => {
    tamper = { path: /\/dists\/trixie\/InRelease$/, from: '/dists/bookworm/InRelease' };
    const err = await failure('2.10');
    expect(isMissingBinaryError(err)).toBe(true);
    expect(String(err.message)).toMatch(/the signed release is bookworm, not trixie/);
  }, 180_000);

  it('refuses a package whose bytes are not the ones the signed index lists', async () => {
    tamper = { path: /\.deb$/, change: (body) => Buffer.concat([body, Buffer.from([0])]) };
    const err = await failure('2.10');
    expect(isMissingBinaryError(err)).toBe(true);
    expect(String(err.message)).toMatch(/does not match the SHA-256 of trixie's index/);
  }, 180_000);

  it('says what is missing when nothing new enough can be had', async () => {
    tamper = undefined;
    const err = await failure('99.0');
    expect(isMissingBinaryError(err)).toBe(true);
    expect(String(err.message)).toMatch(
      /nats-server not found at version 99\.0 or newer .*older than 99\.0\.0/,
    );
  }, 180_000);
});
