import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServerStartError, isServerStartError, startNats, startRedis } from '../src/index.js';

// Stand-in binaries that misbehave the ways real servers do when misconfigured.
const fakeBin = mkdtempSync(join(tmpdir(), 'testkit-fake-bin-'));
writeScript('redis-server', 'echo "booting"; echo "FATAL CONFIG FILE ERROR: Bad directive" >&2; exit 1');
writeScript('nats-server', 'echo "starting $$"; exec sleep 60');

afterAll(() => {
  rmSync(fakeBin, { recursive: true, force: true });
});

function writeScript(name: string, body: string): void {
  const path = join(fakeBin, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

describe('ServerStartError', () => {
  it('quotes the log of a server that exits before it is ready, and leaves nothing behind', async () => {
    // A private os.tmpdir(), so that servers other test files start in parallel do not show up in it.
    const privateTmp = mkdtempSync(join(tmpdir(), 'testkit-tmp-'));
    const originalTmp = process.env.TMPDIR;
    process.env.TMPDIR = privateTmp;
    const error: unknown = await startRedis({ binDirs: [fakeBin] })
      .catch((e: unknown) => e)
      .finally(() => {
        if (originalTmp === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = originalTmp;
      });
    expect(isServerStartError(error)).toBe(true);
    expect((error as ServerStartError).name).toBe('ServerStartError');
    expect((error as Error).message).toMatch(/^redis-server: exited \(code 1\) before it was ready/);
    expect((error as Error).message).toContain('booting');
    expect((error as Error).message).toContain('FATAL CONFIG FILE ERROR: Bad directive');
    expect(readdirSync(privateTmp)).toEqual([]);
    rmSync(privateTmp, { recursive: true });
  });

  it('kills a server that never becomes ready within startTimeoutMs', async () => {
    const error: unknown = await startNats({ binDirs: [fakeBin], startTimeoutMs: 300 }).catch(
      (e: unknown) => e,
    );
    expect(isServerStartError(error)).toBe(true);
    expect((error as Error).message).toMatch(/not ready on port \d+ within 300 ms/);
    const pid = Number(/starting (\d+)/.exec((error as Error).message)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
  });
});
