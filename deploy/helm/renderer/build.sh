#!/usr/bin/env bash
# Builds helm-render offline from Debian's Go packages (golang-go, golang-github-masterminds-sprig-dev,
# golang-k8s-sigs-yaml-dev): GOPATH mode over /usr/share/gocode, with the two `/v3` import paths (which Debian
# installs without the suffix) linked into a private GOPATH. Prints the binary's path; rebuilds only when a source
# file or the Go version changed.
#
# Usage: build.sh <cache-dir>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$(mkdir -p "${1:?usage: build.sh <cache-dir>}" && cd "$1" && pwd)
gocode=/usr/share/gocode/src

command -v go >/dev/null || { echo "helm-render: go not found (apt-get install golang-go)" >&2; exit 3; }
for pkg in github.com/Masterminds/sprig sigs.k8s.io/yaml; do
  [[ -d $gocode/$pkg ]] || { echo "helm-render: $gocode/$pkg missing (apt-get install golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev)" >&2; exit 3; }
done

key=$( (go version; cat "$here"/*.go) | sha256sum | cut -c1-16)
bin=$cache/helm-render-$key
if [[ ! -x $bin ]]; then
  gopath=$cache/gopath
  mkdir -p "$gopath/src/github.com/Masterminds/sprig" "$gopath/src/github.com/Masterminds/semver"
  ln -sfn "$gocode/github.com/Masterminds/sprig" "$gopath/src/github.com/Masterminds/sprig/v3"
  ln -sfn "$gocode/github.com/Masterminds/semver" "$gopath/src/github.com/Masterminds/semver/v3"
  (cd "$here" && GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$cache/gocache" GOFLAGS= \
    go build -o "$bin.tmp" ./*.go)
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
