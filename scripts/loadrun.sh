#!/usr/bin/env bash
# Load run of the real agent binary, each figure beside a baseline measured
# in the same run:
#   1. sustained collector runs/s (and agent CPU per run);
#   2. steady-state RSS with 1,000 collectors, pooled vs one instance each;
#   3. start-to-first-push, cold and warm compile cache;
#   4. sidecar footprint: the agent on the bundled schedules.yaml beside
#      node_exporter, vmagent (scraping a node_exporter, remote-writing)
#      and internal/barepush (a client_golang push loop): steady RSS, VmHWM,
#      CPU, series, and where the agent's memory is (smaps);
#   5. what a plugin growing to its 32 MiB (and 128 MiB) memory_limit on
#      every run adds to the agent's RSS (internal/loadrun/testdata/grow.wat);
#   6. CPU per sample of a 10,000-series .prom file relayed by the textfile
#      plugin, beside node_exporter's textfile collector scraped by vmagent.
# Prints a Markdown summary on stdout (progress goes to stderr). Installs
# the peers and wat2wasm when missing (Debian: prometheus-node-exporter,
# victoria-metrics, wabt). Extra arguments go to internal/loadrun, e.g.:
#
#   bash scripts/loadrun.sh -scenario throughput -levels 4000,6000
#   bash scripts/loadrun.sh -scenario throughput -levels 200   # 20 jobs × 10 collectors every 1 s
#   bash scripts/loadrun.sh -scenario sidecar
#   bash scripts/loadrun.sh -scenario textfile   # a 10,000-series .prom file every 1 s vs node_exporter + vmagent
#
# Takes about 15 minutes with the defaults. Only talks to 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

# binaries (any of them will do) → Debian package that provides them.
missing=()
for entry in prometheus-node-exporter,node_exporter:prometheus-node-exporter vmagent:victoria-metrics wat2wasm:wabt; do
	found=
	IFS=, read -ra bins <<<"${entry%%:*}"
	for bin in "${bins[@]}"; do
		if command -v "$bin" >/dev/null 2>&1; then
			found=1
		fi
	done
	if [[ -z $found ]]; then
		missing+=("${entry#*:}")
	fi
done
if ((${#missing[@]} > 0)); then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "loadrun: need ${missing[*]} (Debian package names) and apt-get is missing; install them and run again" >&2
		exit 1
	fi
	if [[ $(id -u) -eq 0 ]]; then
		sudo=()
	elif command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "loadrun: need to install ${missing[*]} but am not root and sudo is missing" >&2
		exit 1
	fi
	echo "loadrun: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The packages start system services on their default ports where an
	# init system runs; the load run never uses those (it starts its own
	# on free 127.0.0.1 ports).
fi

make build >&2

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pushagent-loadrun-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The benchmark collector as a reactor (what first-party plugins are) and,
# for the throughput baseline, as a WASI command (one fresh instance a run);
# the sidecar baseline; the memlimit scenario's collector.
GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o "$tmp/benchplugin.wasm" ./internal/benchplugin
GOOS=wasip1 GOARCH=wasm go build -trimpath -o "$tmp/benchplugin-command.wasm" ./internal/benchplugin
go build -trimpath -o "$tmp/barepush" ./internal/barepush
wat2wasm internal/loadrun/testdata/grow.wat -o "$tmp/grow.wasm"

cmd=(go run ./internal/loadrun
	-agent bin/pushagent
	-plugins plugins
	-bench "$tmp/benchplugin.wasm"
	-bench-command "$tmp/benchplugin-command.wasm"
	-barepush "$tmp/barepush"
	-grow "$tmp/grow.wasm"
	-schedules schedules.yaml
	-scenario all
	"$@")
echo "+ ${cmd[*]}" >&2
"${cmd[@]}"
echo
echo "Command: bash scripts/loadrun.sh${*:+ $*}"
