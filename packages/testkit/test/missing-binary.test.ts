import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  MissingBinaryError,
  isMissingBinaryError,
  startNats,
  startPostgres,
  startRedis,
} from '../src/index.js';

const emptyDir = mkdtempSync(join(tmpdir(), 'testkit-empty-'));
const originalPath = process.env.PATH;

afterEach(() => {
  process.env.PATH = originalPath;
});

afterAll(() => {
  rmSync(emptyDir, { recursive: true, force: true });
});

describe('MissingBinaryError', () => {
  it('says how to install nats-server when PATH lacks it', async () => {
    process.env.PATH = emptyDir;
    const error: unknown = await startNats().catch((e: unknown) => e);
    expect(isMissingBinaryError(error)).toBe(true);
    expect(error).toBeInstanceOf(MissingBinaryError);
    expect((error as MissingBinaryError).name).toBe('MissingBinaryError');
    expect((error as MissingBinaryError).binary).toBe('nats-server');
    expect((error as Error).message).toBe(
      'nats-server not found on PATH: install it with "apt-get install nats-server"',
    );
  });

  it('says how to install redis-server', async () => {
    await expect(startRedis({ binDirs: [emptyDir] })).rejects.toThrow(
      `redis-server not found in ${emptyDir}: install it with "apt-get install redis-server"`,
    );
  });

  it('says how to install PostgreSQL', async () => {
    const error: unknown = await startPostgres({ binDirs: [emptyDir] }).catch((e: unknown) => e);
    expect(isMissingBinaryError(error)).toBe(true);
    expect((error as MissingBinaryError).binary).toBe('initdb');
    expect((error as MissingBinaryError).installHint).toBe('apt-get install postgresql');
  });

  it('is not confused with other errors', () => {
    expect(isMissingBinaryError(new Error('nats-server not found'))).toBe(false);
    expect(isMissingBinaryError(undefined)).toBe(false);
  });
});
