import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { expect, it } from 'vitest';
import { CpuTracker, reapedChildrenCpuSeconds, treeCpuSeconds } from '../src/cpu.js';

/** A child that spins for `ms` of CPU, then waits for a line on stdin before it exits. */
function spinner(ms: number) {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const end = process.cpuUsage().user / 1000 + ${ms};
       while (process.cpuUsage().user / 1000 < end);
       console.log('spun');
       process.stdin.once('data', () => process.exit(0));`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const spun = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return { child, spun };
}

it('counts a process that started after the tracker from zero, and keeps the time of one that exited', async () => {
  const pids = new Map<string, number>();
  const tracker = new CpuTracker(() => pids, 50);
  const reapedBefore = reapedChildrenCpuSeconds();
  const { child, spun } = spinner(400);
  pids.set('spinner', child.pid!);
  await spun;
  const alive = treeCpuSeconds([child.pid!]);
  expect(alive).toBeGreaterThanOrEqual(0.35);
  await new Promise((r) => setTimeout(r, 200)); // a sample or more while it is alive
  child.stdin.write('exit\n');
  await once(child, 'exit');
  await new Promise((r) => setTimeout(r, 100));
  const totals = tracker.stop();
  // Gone from /proc, its time is still counted, from zero rather than from a reading at the start.
  expect(treeCpuSeconds([child.pid!])).toBe(0);
  expect(totals.spinner).toBeGreaterThanOrEqual(0.35);
  // And the kernel booked it on this process once it was waited for.
  expect(reapedChildrenCpuSeconds() - reapedBefore).toBeGreaterThanOrEqual(0.35);
});
