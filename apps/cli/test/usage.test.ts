/** Bad input for every command: one line saying what to do, a meaningful exit code, no stack trace. */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BENCH_SCENARIOS } from '../src/commands/bench.js';
import { runCli, tempDir } from './cli.js';

const dir = tempDir('usage');
/**
 * A port nothing listens on: 1 (tcpmux) is reserved and never served on a test machine, so a connection is refused
 * at once. A port picked free could be taken by a server another test starts meanwhile.
 */
const closed = 1;
beforeAll(() => {
  mkdirSync(join(dir, 'not-a-database'));
  writeFileSync(join(dir, 'not-a-database', 'notes.txt'), 'mine');
  // What `pnpm throughline config admin-token ops > token` leaves: pnpm's banner, then the token.
  writeFileSync(join(dir, 'noisy-token'), '\n> throughline@0.1.0 throughline\n\ntla_do-not-print-me\n');
});

type Case = [description: string, args: () => string[], exitCode: number, message: RegExp];

const cases: Case[] = [
  ['an unknown command', () => ['deploy'], 2, /unknown command 'deploy'/],
  [
    'demo: an unknown flag',
    () => ['demo', '--evnts', '5'],
    2,
    /unknown option '--evnts'.*Did you mean --events\?.*throughline demo --help/,
  ],
  [
    'demo: a bad number',
    () => ['demo', '--events', 'ten'],
    2,
    /'--events <n>' argument 'ten' is invalid\. expected a whole number/,
  ],
  [
    'demo: a directory that holds something else',
    () => ['demo', '--events', '10', '--data-dir', join(dir, 'not-a-database')],
    2,
    /not empty and holds no database; choose an empty or new --data-dir/,
  ],
  ['up: an unknown flag', () => ['up', '--replicas', '3'], 2, /unknown option '--replicas'/],
  ['up: a bad number', () => ['up', '--partitions', '0'], 2, /'--partitions <n>' argument '0' is invalid/],
  [
    'up: more instances than partitions',
    () => ['up', '--partitions', '2', '--state-instances', '3'],
    2,
    /--state-instances \(3\) exceeds --partitions \(2\)/,
  ],
  [
    'up: a bad address (port 0 is any free port; a host is required)',
    () => ['up', '--ingest-address', ':0'],
    2,
    /'--ingest-address <host:port>' argument ':0' is invalid\. expected host:port, for example 127\.0\.0\.1:50051 \(port 0: any free port\)/,
  ],
  [
    'load: port 0 as a target',
    () => ['load', '--events', '10', '--target', '127.0.0.1:0'],
    2,
    /'--target <host:port>' argument '127\.0\.0\.1:0' is invalid\. expected host:port/,
  ],
  [
    'up: an unreachable server',
    () => ['up', '--nats-url', `nats://127.0.0.1:${closed}`],
    1,
    /cannot reach NATS at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): start nats-server/,
  ],
  [
    'bench: an unknown scenario',
    () => ['bench', 'fastest'],
    2,
    new RegExp(`unknown scenario 'fastest': expected one of ${BENCH_SCENARIOS.join(', ')}$`),
  ],
  [
    'bench: a bad size',
    () => ['bench', 'floor', '--size', 'huge'],
    2,
    /argument 'huge' is invalid\. Allowed choices are default, small/,
  ],
  ['explain: no source', () => ['explain'], 2, /give --file <path> or --jaeger <url>/],
  ['explain: an unknown flag', () => ['explain', '--trace', 'x'], 2, /unknown option '--trace'/],
  [
    'explain: a bad number',
    () => ['explain', '--jaeger', 'http://127.0.0.1:1', '--limit', 'many'],
    2,
    /'--limit <n>' argument 'many' is invalid/,
  ],
  [
    'explain: a missing file',
    () => ['explain', '--file', join(dir, 'no-such-spans.json')],
    1,
    /cannot read .*no-such-spans\.json: ENOENT/,
  ],
  [
    'explain: an unreachable Jaeger',
    () => ['explain', '--jaeger', `http://127.0.0.1:${closed}`],
    1,
    /cannot read traces from Jaeger at http:\/\/127\.0\.0\.1:\d+ .*check --jaeger points at its query API/,
  ],
  ['load: an unknown flag', () => ['load', '--speed', '5'], 2, /unknown option '--speed'/],
  ['load: a bad rate', () => ['load', '--rate', 'fast'], 2, /'--rate <n\|max>' argument 'fast' is invalid/],
  ['load: a bad share', () => ['load', '--duplicates', '2'], 2, /expected a share between 0 and 1/],
  [
    'load: --events with --duration',
    () => ['load', '--events', '10', '--duration', '5s'],
    2,
    /cannot be used with option '--duration/,
  ],
  [
    'load: an unreachable server',
    () => ['load', '--events', '10', '--target', `127.0.0.1:${closed}`],
    1,
    /cannot reach IngestService at 127\.0\.0\.1:\d+ \(ECONNREFUSED\): is the stack running\? Start it with `throughline up`/,
  ],
  ['verify: an unknown flag', () => ['verify', '--strict'], 2, /unknown option '--strict'/],
  [
    'verify: a bad number',
    () => ['verify', '--max-violations', '-1'],
    2,
    /'--max-violations <n>' argument '-1' is invalid/,
  ],
  [
    'verify: a URL that is not PostgreSQL',
    () => ['verify', '--database-url', 'http://127.0.0.1'],
    2,
    /expected a postgres:\/\/ or postgresql:\/\/ URL/,
  ],
  [
    'verify: an unreachable server',
    () => ['verify', '--database-url', `postgres://postgres@127.0.0.1:${closed}/x`],
    1,
    /cannot reach PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/x .*ECONNREFUSED.*Set --database-url or DATABASE_URL/,
  ],
  [
    'verify: no database in the directory',
    () => ['verify', '--data-dir', join(dir, 'nothing-here')],
    1,
    /no embedded database in .*nothing-here: run `throughline demo` first/,
  ],
  [
    'config: a missing argument',
    () => ['config', 'get'],
    2,
    /missing required argument 'tenant'.*throughline config get --help/,
  ],
  [
    'config: a bad number',
    () => ['config', 'set', 'tenant-1', '--fee-bps', 'lots'],
    2,
    /'--fee-bps <n>' argument 'lots' is invalid/,
  ],
  [
    'config: nothing to set',
    () => ['config', 'set', 'tenant-1'],
    2,
    /nothing to set: give at least one of --enabled/,
  ],
  [
    'config: an admin token file that is not there (read before connecting)',
    () => ['config', 'set', 'tenant-1', '--fee-bps', '1', '--admin-token-file', join(dir, 'no-token')],
    2,
    /cannot read the admin token file .*no-token \(ENOENT\)/,
  ],
  [
    'config: an admin token file holding more than a token (never printed)',
    () => ['config', 'set', 'tenant-1', '--fee-bps', '1', '--admin-token-file', join(dir, 'noisy-token')],
    2,
    /admin token file .*noisy-token does not hold one token \(one line of printable characters/,
  ],
  [
    'config admin-token: a name with a blank',
    () => ['config', 'admin-token', 'two words'],
    2,
    /admin-token wants a name of letters, digits/,
  ],
  [
    'config: an unreachable server',
    () => ['config', 'list', '--config-address', `127.0.0.1:${closed}`],
    1,
    /cannot reach ConfigService at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
  ],
];

describe('bad input', () => {
  it.each(cases)('%s', async (_description, args, exitCode, message) => {
    const run = await runCli(args());
    expect(run.code).toBe(exitCode);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toMatch(message);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(run.stderr).not.toContain('do-not-print-me');
    expect(run.stdout).toBe('');
  });

  it('prints the stack trace and causes with --verbose', async () => {
    const run = await runCli([
      '--verbose',
      'verify',
      '--database-url',
      `postgres://postgres@127.0.0.1:${closed}/x`,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n')[0]).toMatch(/^error: cannot reach PostgreSQL/);
    expect(run.stderr).toMatch(/^\s+at /m);
    expect(run.stderr).toMatch(/caused by: .*ECONNREFUSED/);
  });

  it('prints no password, whatever the error quotes', async () => {
    const usage = await runCli(['verify', '--database-url', 'http://admin:hunter2@127.0.0.1']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('http://admin:***@127.0.0.1');
    const failure = await runCli([
      '--verbose',
      'verify',
      '--database-url',
      `postgres://postgres:hunter2@127.0.0.1:${closed}/x?password=hunter3`,
    ]);
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain('postgres://postgres:***@127.0.0.1');
    expect(`${usage.stderr}${failure.stderr}${usage.stdout}${failure.stdout}`).not.toMatch(/hunter[23]/);
  });

  it('has --help on every command', async () => {
    for (const command of [
      [],
      ['demo'],
      ['up'],
      ['load'],
      ['verify'],
      ['config'],
      ['config', 'get'],
      ['config', 'list'],
      ['config', 'set'],
      ['config', 'admin-token'],
      ['trace'],
    ]) {
      const run = await runCli([...command, '--help']);
      expect(run.code, command.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/^Usage: throughline/);
    }
  });

  it('config admin-token prints a fresh token, and the line of its SHA-256 for the token file', async () => {
    const first = await runCli(['config', 'admin-token', 'ops']);
    const second = await runCli(['config', 'admin-token', 'ops']);
    expect(first.code).toBe(0);
    const token = first.stdout.trim();
    expect(token).toMatch(/^tla_[A-Za-z0-9_-]{43}$/);
    expect(second.stdout.trim()).not.toBe(token);
    const digest = createHash('sha256').update(token).digest('hex');
    expect(first.stderr).toContain(`\nops ${digest}\n`);
    expect(first.stderr).not.toContain(token);
    // What it prints on stderr is a tokens file as it is: comments and the line.
    expect(first.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([`ops ${digest}`]);
  });
});
