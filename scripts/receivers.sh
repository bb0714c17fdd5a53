#!/usr/bin/env bash
# Builds the receivers the OTLP and remote write 2.0 tests send to, from
# their Go modules, into a cache directory keyed by version:
#
#   VictoriaMetrics v1.151.0 (OTLP at /opentelemetry/v1/metrics)
#   Prometheus 3 (module version v0.316.0: OTLP and remote write 2.0)
#
# Why this exists: Debian ships Prometheus 2.42 and VictoriaMetrics 1.79,
# which predate both protocols. Building takes many minutes on a small
# machine, so the binaries are kept in
#   ${XDG_CACHE_HOME:-~/.cache}/pushagent/receivers/<name>-<version>/<name>
# (the directory Go's os.UserCacheDir names; internal/testenv looks there)
# and only a fresh machine pays. The build uses the Go on PATH and never
# downloads another toolchain (GOTOOLCHAIN=local): both modules need
# Go >= 1.26.
#
# Usage: scripts/receivers.sh [--print-dir]
#   --print-dir prints the cache directory and exits.
# Idempotent and quiet when both binaries are already cached.
set -euo pipefail

readonly VM_VERSION=v1.151.0
readonly PROM_VERSION=v0.316.0

cache_root=${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/pushagent/receivers
if [[ ${1-} == --print-dir ]]; then
	echo "$cache_root"
	exit 0
fi

# build NAME VERSION PACKAGE@VERSION [go build flags...]
build() {
	local name=$1 version=$2 pkg=$3
	shift 3
	local dir=$cache_root/$name-$version
	if [[ -x $dir/$name ]]; then
		return 0
	fi
	echo "receivers: building $name $version (once per machine; several minutes)" >&2
	local tmp
	tmp=$(mktemp -d "$cache_root/.build-$name-XXXXXX")
	# GOBIN into a temporary directory, then a rename: a build killed
	# half-way leaves no binary that looks finished.
	if ! GOTOOLCHAIN=local GOBIN=$tmp CGO_ENABLED=0 go install "$@" "$pkg" >"$tmp/build.log" 2>&1; then
		echo "receivers: go install $pkg failed:" >&2
		cat "$tmp/build.log" >&2
		rm -rf "$tmp"
		return 1
	fi
	mkdir -p "$dir"
	mv "$tmp/$name" "$dir/$name"
	rm -rf "$tmp"
}

if ! command -v go >/dev/null 2>&1; then
	echo "receivers: go not found on PATH" >&2
	exit 1
fi
mkdir -p "$cache_root"
# One build at a time per machine: test binaries that find a receiver
# missing run this script at once (internal/testenv), and wait here.
exec 9>"$cache_root/.lock"
flock 9
build victoria-metrics "$VM_VERSION" \
	"github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@$VM_VERSION"
# cmd/prometheus installs as "prometheus"; its web UI assets are not
# embedded without the builtinassets tag, which the tests do not need (they
# use the HTTP API only). remove_all_sd leaves out Prometheus' service
# discovery plugins (Kubernetes, the clouds, Consul, …): the tests use
# static targets only, and those plugins' dependencies are most of the
# build's time.
build prometheus "$PROM_VERSION" \
	"github.com/prometheus/prometheus/cmd/prometheus@$PROM_VERSION" -tags remove_all_sd
