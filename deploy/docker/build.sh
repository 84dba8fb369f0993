#!/bin/sh
# Builds the rockstar binary exactly as the container image ships it: the
# Dockerfile runs this script, and deploy/deploy_test.go runs it too and
# checks the result (static, no ELF interpreter; `rockstar version` runs).
#
#   OUT=path/to/rockstar VERSION=v1.2.3 sh deploy/docker/build.sh
#
# CGO_ENABLED=0: a static binary that runs on distroless/static or scratch.
# -trimpath: no build paths in the binary. -s -w: no symbol tables.
set -eu
: "${OUT:=rockstar}"
: "${VERSION:=dev}"
cd "$(dirname "$0")/../.."
CGO_ENABLED=0 exec go build -trimpath \
	-ldflags "-s -w -X github.com/rockstar-dev/rockstar/supervisor.Version=${VERSION}" \
	-o "$OUT" ./cmd/rockstar
