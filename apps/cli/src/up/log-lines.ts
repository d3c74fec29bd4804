/** One coloured, prefixed stream out of the services' pino JSON lines. */
import pc from 'picocolors';

const COLORS = [pc.cyan, pc.magenta, pc.yellow, pc.blue, pc.green, pc.gray];

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

/** Fields every line has, not worth repeating. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'service', 'instance', 'msg']);

function levelText(level: unknown): string {
  const name = typeof level === 'number' ? (LEVELS[level] ?? String(level)) : 'INFO';
  const padded = name.padEnd(5);
  if (name === 'WARN') return pc.yellow(padded);
  if (name === 'ERROR' || name === 'FATAL') return pc.red(padded);
  if (name === 'INFO') return pc.green(padded);
  return pc.dim(padded);
}

function clock(time: unknown): string {
  const d = typeof time === 'number' ? new Date(time) : new Date();
  return d.toISOString().slice(11, 23);
}

function fieldText(value: unknown): string {
  if (typeof value === 'string') return /[\s"]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value);
}

/** A pino JSON line as `12:00:01.123 INFO  ready httpPort=9465 port=50051`; other lines as they are. */
export function prettyLine(line: string): string {
  if (!line.startsWith('{')) return line;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const fields = Object.entries(record)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${pc.dim(`${k}=`)}${fieldText(v)}`);
  return `${pc.dim(clock(record.time))} ${levelText(record.level)} ${typeof record.msg === 'string' ? record.msg : JSON.stringify(record.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}`;
}

/** Makes the `name | ` prefix of each service, padded to the longest name, each service in its own colour. */
export function prefixer(names: readonly string[]): (name: string) => string {
  const width = Math.max(...names.map((n) => n.length));
  const colorOf = new Map(names.map((n, i) => [n, COLORS[i % COLORS.length]!]));
  return (name) => (colorOf.get(name) ?? pc.white)(`${name.padEnd(width)} |`) + ' ';
}
