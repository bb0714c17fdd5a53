#!/usr/bin/env bash
# Soak of the real agent binary: by default one hour at 1,000 collector
# runs/s (100 jobs × 10 benchplugin collectors every 1 s) plus a job of
# hostile plugins (loop, trap, stdout flood, memory grower, sleeper from
# agent/testdata/hostile), pushing to a Pushgateway and remote-writing to
# VictoriaMetrics (Debian's binaries, started on free 127.0.0.1 ports).
# VictoriaMetrics is stopped for 2 minutes in every 10; the config is
# rewritten (and so reloaded) every minute. At the end it prints, as
# Markdown for docs/reliability.md, RSS and goroutines every minute, the
# samples the remote_write output buffered vs those VictoriaMetrics
# stores, push failures outside the outages, and the checks against the
# targets (RSS drift ≤ 5 % after the first 10 minutes, goroutines flat,
# 0 samples lost, 0 stored twice); it exits 1 when one is missed.
# Progress goes to stderr. Extra arguments go to internal/loadrun, e.g. a
# scaled-down run:
#
#   bash scripts/soak.sh -soak-duration 6m -soak-outage-every 3m -soak-outage-for 40s \
#       -soak-reload-every 30s -soak-sample-every 30s -soak-settle 2m
#
# Needs (Debian packages): prometheus-pushgateway, victoria-metrics, wabt.
# Only talks to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for entry in prometheus-pushgateway:prometheus-pushgateway victoria-metrics:victoria-metrics wat2wasm:wabt; do
	if ! command -v "${entry%%:*}" >/dev/null 2>&1; then
		missing+=("${entry#*:}")
	fi
done
if ((${#missing[@]} > 0)); then
	echo "soak: missing ${missing[*]}; install them (apt-get install ${missing[*]}, or make setup) and run again" >&2
	exit 1
fi

make bin/pushagent >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pushagent-soak-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o "$tmp/benchplugin.wasm" ./internal/benchplugin
mkdir "$tmp/hostile"
for p in loop unreachable stdout_flood alloc sleep; do
	wat2wasm "agent/testdata/hostile/$p.wat" -o "$tmp/hostile/$p.wasm"
done

cmd=(go run ./internal/loadrun
	-agent bin/pushagent
	-bench "$tmp/benchplugin.wasm"
	-soak-hostile "$tmp/hostile"
	-scenario soak
	"$@")
echo "+ ${cmd[*]}" >&2
status=0
"${cmd[@]}" || status=$?
echo
echo "Command: bash scripts/soak.sh${*:+ $*}"
exit "$status"
