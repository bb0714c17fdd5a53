#!/usr/bin/env bash
# Load run of the real agent binary: sustained collector runs/s, steady-state
# RSS with 1,000 collectors, and start-to-first-push (cold and warm compile
# cache), each beside a baseline measured in the same run. Prints a Markdown
# summary on stdout (progress goes to stderr). Extra arguments go to
# internal/loadrun, e.g.:
#
#   bash scripts/loadrun.sh -scenario throughput -levels 4000,6000
#
# Takes about 8 minutes with the defaults. Only talks to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

make build >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pushagent-loadrun-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The benchmark collector as a reactor (what first-party plugins are) and,
# for the throughput baseline, as a WASI command (one fresh instance a run).
GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o "$tmp/benchplugin.wasm" ./internal/benchplugin
GOOS=wasip1 GOARCH=wasm go build -trimpath -o "$tmp/benchplugin-command.wasm" ./internal/benchplugin

cmd=(go run ./internal/loadrun
	-agent bin/pushagent
	-plugins plugins
	-bench "$tmp/benchplugin.wasm"
	-bench-command "$tmp/benchplugin-command.wasm"
	-scenario all
	"$@")
echo "+ ${cmd[*]}" >&2
"${cmd[@]}"
echo
echo "Command: bash scripts/loadrun.sh${*:+ $*}"
