/**
 * The Helm commands of deploy/README.md, run as written from the repository root, the way a reader with a fresh
 * clone would: `helm install` as `helm template` (same arguments: there is no cluster here), `helm lint` and
 * `helm template` as they are, a `for f in <dir>/*<suffix>` loop once per file, an upgrade's `--set`s over the
 * install's values. throughline-stack's commands run against its layout with stand-ins (stack-layout.ts), since
 * `helm dependency build` needs the network. Commands that need a cluster or the network are listed, not run.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartDir, helm, repoRoot } from './helm.js';
import { layOutStack, removeLayout } from './stack-layout.js';

const readme = readFileSync(path.join(repoRoot, 'deploy/README.md'), 'utf8');

/** Each command of the README's ```sh blocks, with continuation lines joined and the `for` loop it is in. */
function commands(): { line: string; loop?: string }[] {
  const out: { line: string; loop?: string }[] = [];
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    let loop: string | undefined;
    for (const line of block!.replace(/\\\n\s*/g, '').split('\n')) {
      const text = line.trim();
      const header = /^for f in (\S+); do$/.exec(text);
      if (header) loop = header[1];
      else if (text === 'done') loop = undefined;
      else if (text) out.push(loop ? { line: text, loop } : { line: text });
    }
  }
  return out;
}

/** Shell words up to a redirection, pipe, `||`, `;` or comment; quotes removed. */
function words(line: string): string[] {
  const result: string[] = [];
  for (const [token] of line.matchAll(/'[^']*'|"[^"]*"|[^\s'"]+/g)) {
    if (/^(>|\||;|#|&)/.test(token)) break;
    result.push(token.replace(/^(['"])(.*)\1$/, '$2'));
  }
  return result;
}

/** The files a `for f in <dir>/*<suffix>` loop visits. */
function expand(glob: string): string[] {
  const [dir, suffix] = [path.dirname(glob), path.basename(glob).replace(/^\*/, '')];
  return readdirSync(path.join(repoRoot, dir))
    .filter((f) => f.endsWith(suffix))
    .map((f) => path.join(dir, f));
}

const helmCommands = commands().filter((c) => c.line.startsWith('helm '));
const installs = helmCommands.filter((c) => !c.loop && /^helm (install|template) /.test(c.line));
let stack: string;

beforeAll(() => {
  stack = layOutStack();
});
afterAll(() => removeLayout(stack));

/** Runs `helm <args>` from the repository root, with throughline-stack replaced by its offline layout. */
function run(args: string[]) {
  const resolved = args.map((a) => (a === 'deploy/helm/throughline-stack' ? stack : a));
  const result = helm(resolved, repoRoot);
  return { ...result, command: `helm ${args.join(' ')}` };
}

describe('deploy/README.md', () => {
  it('has the install commands of both charts', () => {
    expect(installs.map((c) => words(c.line).slice(0, 4).join(' '))).toEqual(
      expect.arrayContaining([
        'helm install tl deploy/helm/throughline',
        'helm install tl deploy/helm/throughline-stack',
      ]),
    );
  });

  it.each(installs.map((c) => c.line))('%s', (line) => {
    const args = words(line).slice(1);
    if (args[0] === 'install') args[0] = 'template';
    const result = run(args);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('kind: Deployment');
  });

  it.each(helmCommands.filter((c) => c.line.startsWith('helm lint ') || c.loop).map((c) => [c.line, c.loop]))(
    '%s',
    (line, loop) => {
      for (const f of loop ? expand(loop) : ['']) {
        const result = run(words(line.replaceAll('"$f"', f)).slice(1));
        expect(result.status, `${result.command}\n${result.stderr}`).toBe(0);
      }
    },
  );

  it.each(helmCommands.filter((c) => c.line.startsWith('helm upgrade ')).map((c) => c.line))(
    '%s (its --set over the install values)',
    (line) => {
      const sets = words(line).flatMap((w, i, all) => (all[i - 1] === '--set' ? ['--set', w] : []));
      expect(sets.length).toBeGreaterThan(0);
      const result = run([
        'template',
        'tl',
        'deploy/helm/throughline',
        '-f',
        `${chartDir}/ci/default-values.yaml`,
        ...sets,
      ]);
      expect(result.stderr).toBe('');
    },
  );

  it('lists only commands that need a cluster or the network as not run here', () => {
    const runHere = (c: { line: string; loop?: string }) =>
      /^helm (install|template|upgrade|lint) /.test(c.line) || c.loop !== undefined;
    expect(helmCommands.filter((c) => !runHere(c)).map((c) => words(c.line).slice(0, 3).join(' '))).toEqual([
      'helm test tl',
      'helm dependency build',
      'helm test tl',
    ]);
  });
});
