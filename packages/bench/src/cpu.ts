/** CPU time from /proc: a process and its descendants, exited children included (they are booked on the parent). */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
    // After the name: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14).
    const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    return { ppid: Number(fields[1]), ticks };
  } catch {
    return undefined;
  }
}

function scanProcesses(): { stats: Map<number, Stat>; children: Map<number, number[]> } {
  const stats = new Map<number, Stat>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) stats.set(pid, stat);
  }
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of stats) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  return { stats, children };
}

function treeTicks(
  { stats, children }: ReturnType<typeof scanProcesses>,
  roots: readonly number[],
): number | undefined {
  let ticks = 0;
  let found = false;
  const seen = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const stat = stats.get(pid);
    if (stat === undefined) continue;
    found = true;
    ticks += stat.ticks;
    stack.push(...(children.get(pid) ?? []));
  }
  return found ? ticks : undefined;
}

/** CPU seconds used so far by each of `roots` with all its descendants (PostgreSQL's backends, for one). */
export function treeCpuSeconds(roots: readonly number[]): number {
  return (treeTicks(scanProcesses(), roots) ?? 0) / TICKS_PER_SECOND;
}

/**
 * CPU seconds used so far by each named process with its descendants, from one scan of /proc; a process that is
 * gone is left out.
 */
export function treeCpuSecondsEach(pids: ReadonlyMap<string, number>): Map<string, number> {
  const scan = scanProcesses();
  const out = new Map<string, number>();
  for (const [name, pid] of pids) {
    const ticks = treeTicks(scan, [pid]);
    if (ticks !== undefined) out.set(name, ticks / TICKS_PER_SECOND);
  }
  return out;
}

/**
 * CPU seconds of the current process's children that have exited and been waited for (the kernel books them on
 * the parent): a service stopped or killed during a run is gone from /proc, and its time is found here.
 */
export function reapedChildrenCpuSeconds(): number {
  try {
    const text = readFileSync('/proc/self/stat', 'utf8');
    const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/**
 * Follows the CPU time of processes that come and go during a run (instances added and stopped by a scale step,
 * services killed and restarted by a fault): samples every named process's tree now and then, so that one which
 * exits keeps what it had used at its last sample. A process first seen after the start counts from zero.
 */
export class CpuTracker {
  /** Per process (name and pid): its reading at first sight (0 if it started after the tracker), and the last. */
  private readonly readings = new Map<string, { name: string; first: number; last: number }>();
  private readonly timer: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly processes: () => ReadonlyMap<string, number>,
    intervalMs = 1_000,
  ) {
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), intervalMs);
    this.timer.unref();
  }

  private sample(atStart: boolean): void {
    const named = this.processes();
    const byKey = new Map([...named].map(([name, pid]) => [`${name}:${pid}`, pid] as const));
    for (const [key, cpu] of treeCpuSecondsEach(byKey)) {
      const seen = this.readings.get(key);
      if (seen) seen.last = cpu;
      else
        this.readings.set(key, {
          name: key.slice(0, key.lastIndexOf(':')),
          first: atStart ? cpu : 0,
          last: cpu,
        });
    }
  }

  /** Stops sampling; per name, the CPU seconds its processes used since the start (as of their last sample). */
  stop(): Record<string, number> {
    if (this.stopped) return this.totals();
    this.stopped = true;
    this.sample(false);
    clearInterval(this.timer);
    return this.totals();
  }

  private totals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const { name, first, last } of this.readings.values()) out[name] = (out[name] ?? 0) + last - first;
    return out;
  }
}

/** CPU seconds of the current process (the load generator, reported apart). */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
