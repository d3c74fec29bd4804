#!/usr/bin/env bash
# Builds the workspace once and lays out the runtime tree of every service in <outdir>:
#   <outdir>/apps/<service>/dist, <outdir>/packages/<name>/dist (and each package's other "files"),
#   <outdir>/node_modules with production dependencies only.
# Run `node <outdir>/apps/<service>/dist/main.js` from <outdir>. The Dockerfile runs this script, and so does the
# chart package's test (without Docker), so a broken image build is caught by CI.
#
# Usage: deploy/docker/build-artifacts.sh <outdir>
#   SKIP_BUILD=1  reuse an existing `pnpm build` (the test does, after turbo built everything)
set -euo pipefail

out=${1:?usage: build-artifacts.sh <outdir>}
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "$out")
# The out dir is replaced: never the repository, one of its ancestors, or its sources.
if [[ "$root/" == "${out%/}/"* || "$out" == "$root"/apps* || "$out" == "$root"/packages* ]]; then
  echo "build-artifacts.sh: refusing to replace $out" >&2
  exit 2
fi
cd "$root"

if [[ "${SKIP_BUILD:-}" != 1 ]]; then
  pnpm install --frozen-lockfile
  pnpm build
fi

rm -rf "$out"
mkdir -p "$out"

# The workspace manifest and lockfile, so the production install resolves exactly what CI tested.
cp package.json pnpm-lock.yaml pnpm-workspace.yaml "$out/"
[[ -f .npmrc ]] && cp .npmrc "$out/"

# Every workspace project keeps its package.json (the lockfile names them all); only the services (apps/* but the
# cli, a developer's tool that also carries the benchmarks) and the workspace packages they depend on at run time
# get their built files ("files" of package.json, else dist).
node - "$root" "$out" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const [root, out] = process.argv.slice(2);
// The `packages:` list of pnpm-workspace.yaml (block style, one glob a line).
const globs = [];
let inPackages = false;
for (const line of fs.readFileSync(path.join(root, 'pnpm-workspace.yaml'), 'utf8').split('\n')) {
  if (/^\S/.test(line)) inPackages = line.startsWith('packages:');
  const glob = inPackages ? /^\s+-\s+["']?([^"'\s]+)["']?\s*$/.exec(line)?.[1] : undefined;
  if (glob) globs.push(glob);
}
const projects = new Map(); // name -> { dir, pkg }
for (const glob of globs) {
  const dirs = glob.endsWith('/*')
    ? fs.readdirSync(path.join(root, glob.slice(0, -2)), { withFileTypes: true })
        .filter((d) => d.isDirectory()).map((d) => path.join(glob.slice(0, -2), d.name))
    : [glob];
  for (const dir of dirs) {
    const manifest = path.join(root, dir, 'package.json');
    if (!fs.existsSync(manifest)) continue;
    const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    projects.set(pkg.name, { dir, pkg });
    fs.mkdirSync(path.join(out, dir), { recursive: true });
    fs.copyFileSync(manifest, path.join(out, dir, 'package.json'));
  }
}
const runtime = new Set();
const visit = (name) => {
  const project = projects.get(name);
  if (!project || runtime.has(name)) return;
  runtime.add(name);
  for (const [dep, spec] of Object.entries(project.pkg.dependencies ?? {})) if (String(spec).startsWith('workspace:')) visit(dep);
};
for (const [name, { dir }] of projects) if (dir.startsWith('apps/') && dir !== 'apps/cli') visit(name);
for (const name of runtime) {
  const { dir, pkg } = projects.get(name);
  for (const entry of pkg.files ?? ['dist']) {
    const from = path.join(root, dir, entry);
    if (fs.existsSync(from)) fs.cpSync(from, path.join(out, dir, entry), { recursive: true });
  }
}
EOF

# The `helm test` script.
mkdir -p "$out/deploy"
cp "$root/deploy/docker/smoke-test.mjs" "$out/deploy/"

# Production dependencies of the services only (no dev dependencies, no test packages), from the lockfile and
# the store the build's install filled (no network needed here when the build ran on this machine). A flat
# (hoisted) node_modules, because a workspace library's peer dependency (@opentelemetry/api of the telemetry
# package) is otherwise only linked through its devDependencies, which a production install leaves out; hoisted,
# it resolves to the one copy the services depend on.
cd "$out"
pnpm install --prod --frozen-lockfile --prefer-offline --ignore-scripts --config.confirmModulesPurge=false \
  --config.node-linker=hoisted \
  --filter '{./apps/*}...' --filter '!@throughline/cli'

# Declarations, source maps and build info are not needed to run.
find "$out/apps" "$out/packages" -path '*/node_modules' -prune -o -type f \
  \( -name '*.d.ts' -o -name '*.d.ts.map' -o -name '*.js.map' -o -name '*.tsbuildinfo' \) -print0 | xargs -0 rm -f
echo "runtime tree in $out: $(du -sh "$out" | cut -f1)"
