#!/bin/sh
# Builds the rockstar binary exactly as the container image ships it: the
# Dockerfile runs this script, and deploy/deploy_test.go runs it too and
# checks the result (static, no ELF interpreter; `rockstar version` runs).
#
#   OUT=path/to/rockstar VERSION=v1.2.3 REVISION=$(git rev-parse HEAD) sh deploy/docker/build.sh
#
# REVISION defaults to the checkout's HEAD when git can tell it.
#
# CGO_ENABLED=0: a static binary that runs on distroless/static or scratch.
# -trimpath: no build paths in the binary. -s -w: no symbol tables.
set -eu
: "${OUT:=rockstar}"
: "${VERSION:=}"
cd "$(dirname "$0")/../.."
: "${REVISION:=$(git rev-parse HEAD 2>/dev/null || true)}"
# The stamps `rockstar version` prints (supervisor/version.go); unset ones
# fall back to what Go recorded of the build.
stamps=""
[ -n "$VERSION" ] && stamps="$stamps -X github.com/rockstar-dev/rockstar/supervisor.version=$VERSION"
[ -n "$REVISION" ] && stamps="$stamps -X github.com/rockstar-dev/rockstar/supervisor.revision=$REVISION"
CGO_ENABLED=0 exec go build -trimpath -ldflags "-s -w$stamps" -o "$OUT" ./cmd/rockstar
