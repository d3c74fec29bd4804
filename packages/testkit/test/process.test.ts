import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isServiceExitedError, isWaitTimeoutError, spawnService } from '../src/index.js';
import { processExists } from './helpers.js';

const node = process.execPath;

/** A service that prints its run number and pid, then waits for SIGTERM. */
const SERVICE = `
  process.on('SIGTERM', () => { console.log('draining'); process.exit(3); });
  console.log('ready run=' + process.env.RUN + ' pid=' + process.pid);
  console.error('warming up');
  setInterval(() => {}, 1000);
`;

describe('spawnService', () => {
  it('captures output, waits for patterns, and reports how it exited', async () => {
    const svc = spawnService({ name: 'svc', command: node, args: ['-e', SERVICE], env: { RUN: 'one' } });
    const match = await svc.waitForOutput(/ready run=(\w+) pid=(\d+)/);
    expect(match[1]).toBe('one');
    expect(Number(match[2])).toBe(svc.pid);
    await svc.waitForOutput(/warming up/);
    expect(svc.output()).toContain('ready run=one');

    expect(await svc.kill()).toEqual({ code: 3, signal: null });
    expect(svc.output()).toContain('draining');
    expect(svc.pid).toBeUndefined();
    expect(await svc.exited).toEqual({ code: 3, signal: null });
  });

  it('pauses and resumes a service with signals that do not end it', async () => {
    const TICKER = `let n = 0; setInterval(() => console.log('tick ' + ++n), 20);`;
    const svc = spawnService({ name: 'ticker', command: node, args: ['-e', TICKER] });
    await svc.waitForOutput(/tick 2/);
    svc.signal('SIGSTOP');
    // Stopped: nothing more is written (a tick already on its way may still arrive).
    await new Promise((r) => setTimeout(r, 100));
    const frozen = svc.output().length;
    await new Promise((r) => setTimeout(r, 300));
    expect(svc.output().length).toBe(frozen);
    expect(svc.pid).toBeDefined();
    svc.signal('SIGCONT');
    const mark = (svc.output().match(/tick/g) ?? []).length;
    await svc.waitForOutput(new RegExp(`tick ${mark + 2}\\b`));
    await svc.kill('SIGKILL');
    svc.signal('SIGCONT'); // exited: nothing to do, no throw
  });

  it('writes to the stdin of a service spawned with input', async () => {
    const ECHO = `process.stdin.on('data', (d) => console.log('got ' + String(d).trim()));`;
    const svc = spawnService({ name: 'echo', command: node, args: ['-e', ECHO], input: true });
    svc.write('hello\n');
    await svc.waitForOutput(/got hello/);
    await svc.kill('SIGKILL');
  });

  it('restarts with the same command and matches only the new run', async () => {
    const svc = spawnService({ name: 'svc', command: node, args: ['-e', SERVICE], env: { RUN: 'x' } });
    const first = await svc.waitForOutput(/pid=(\d+)/);
    expect(await svc.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    await svc.restart();
    const second = await svc.waitForOutput(/pid=(\d+)/);
    expect(second[1]).not.toBe(first[1]);
    expect(svc.output().match(/ready run=x/g)).toHaveLength(2);

    // Environment added on a restart stays for the later ones.
    await svc.restart({ env: { RUN: 'y' } });
    await svc.waitForOutput(/ready run=y/);
    await svc.restart();
    await svc.waitForOutput(/ready run=y/);
    expect(svc.output().match(/ready run=y/g)).toHaveLength(2);
    await svc.kill();
  });

  it('fails fast, quoting the output, when the process exits before the pattern', async () => {
    const svc = spawnService({
      name: 'crasher',
      command: node,
      args: ['-e', 'console.error("config invalid: NATS_URL missing"); process.exit(2)'],
    });
    const error: unknown = await svc.waitForOutput(/ready/, { timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(isServiceExitedError(error)).toBe(true);
    expect((error as Error).message).toContain('crasher exited (code 2)');
    expect((error as Error).message).toContain('config invalid: NATS_URL missing');
  });

  it('times out with the last lines of output', async () => {
    const svc = spawnService({ name: 'quiet', command: node, args: ['-e', SERVICE], env: { RUN: 'q' } });
    const error: unknown = await svc
      .waitForOutput(/never printed/, { timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(isWaitTimeoutError(error)).toBe(true);
    expect((error as Error).message).toContain('ready run=q');
    await svc.kill();
  });

  it('kills what the service left behind when it exits', async () => {
    const svc = spawnService({
      name: 'wrapper',
      command: 'sh',
      args: ['-c', 'sleep 60 & echo "child=$!"; wait'],
    });
    const match = await svc.waitForOutput(/child=(\d+)/);
    const child = Number(match[1]);
    expect(processExists(child)).toBe(true);
    await svc.kill('SIGKILL');
    // The grandchild may linger as a zombie until init reaps it; it must not be running.
    expect(isRunning(child)).toBe(false);
  });

  it('reports a command that does not exist through output and exit', async () => {
    const svc = spawnService({ name: 'ghost', command: '/nonexistent/ghost-binary' });
    expect(await svc.exited).toEqual({ code: null, signal: null });
    expect(svc.output()).toContain('could not start /nonexistent/ghost-binary');
  });
});

function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
