#!/usr/bin/env bash
# Installs what pushagent's tests need on a Debian (12+) machine.
#
# Why this exists: the end-to-end tests run against a real Pushgateway, a
# real Prometheus and real tools (see internal/testenv), and under CI=true a
# test that cannot find one of them fails instead of skipping. A fresh
# machine has none of them, so `make test` (and thus .ci/run) calls this
# first. It is idempotent and quiet: it only runs apt-get for binaries and
# toolchain files that are missing, and prints nothing when everything is
# already there.
#
# Go is not installed here: it comes with the machine image. Without a
# recent enough Go this script says so and exits 1.
set -euo pipefail

readonly MIN_GO_MINOR=24 # go.mod needs at least Go 1.24 features (wasip1 c-shared)

# binary → Debian package that provides it.
readonly -a NEEDED=(
	"prometheus-pushgateway:prometheus-pushgateway"
	"prometheus:prometheus"
	"promtool:prometheus"
	# remote_write tests send to VictoriaMetrics (and vmagent is the peer in
	# the benchmarks).
	"victoria-metrics:victoria-metrics"
	# The sidecar load run (scripts/loadrun.sh) measures the agent beside
	# node_exporter, which also serves vmagent the textfile peer.
	"prometheus-node-exporter:prometheus-node-exporter"
	"wat2wasm:wabt"
	"make:make"
	"curl:curl"
	# docs/operations.md makes the listener's test certificate with
	# openssl, and e2e runs those commands as written.
	"openssl:openssl"
	# agent/web's browser test loads the status page in headless Chromium.
	"chromium:chromium"
	# internal/imagetest builds the container image (Dockerfile) and runs
	# it: podman without a daemon, runc as its runtime (see Makefile, image).
	"podman:podman"
	"runc:runc"
	# internal/releasetest installs the .deb into a Debian container whose
	# base scripts/debian-base.sh makes with debootstrap (no registry).
	"debootstrap:debootstrap"
)

missing=()
for entry in "${NEEDED[@]}"; do
	bin=${entry%%:*}
	pkg=${entry#*:}
	if ! command -v "$bin" >/dev/null 2>&1; then
		# Only add each package once (prometheus provides two binaries).
		case " ${missing[*]-} " in
		*" $pkg "*) ;;
		*) missing+=("$pkg") ;;
		esac
	fi
done
# file (a glob) → Debian package, for what is not a command on PATH or
# where PATH would mislead: the toolchains that build the example plugins in
# examples/plugins (C and Rust for wasm32-wasi, e2e/languages_test.go).
# rustc is checked by its full path because a rustup toolchain in
# ~/.cargo/bin shadows it on PATH and lacks the wasm32-wasi standard library.
readonly -a NEEDED_FILES=(
	"/usr/bin/clang:clang"
	"/usr/bin/wasm-ld:lld"
	"/usr/include/wasm32-wasi/stdio.h:wasi-libc"
	"/usr/lib/wasm32-wasi/libc.a:wasi-libc"
	"/usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a:libclang-rt-14-dev-wasm32"
	"/usr/bin/rustc:rustc"
	"/usr/lib/rustlib/wasm32-wasi/lib:libstd-rust-dev-wasm32"
)
for entry in "${NEEDED_FILES[@]}"; do
	file=${entry%%:*}
	pkg=${entry#*:}
	if ! compgen -G "$file" >/dev/null; then
		case " ${missing[*]-} " in
		*" $pkg "*) ;;
		*) missing+=("$pkg") ;;
		esac
	fi
done
# ca-certificates has no binary to look for; check the package itself.
if ! dpkg-query -W -f='${Status}' ca-certificates 2>/dev/null | grep -q 'install ok installed'; then
	missing+=(ca-certificates)
fi

if ((${#missing[@]} > 0)); then
	if [[ $(id -u) -eq 0 ]]; then
		sudo=()
	elif command -v sudo >/dev/null 2>&1; then
		sudo=(sudo)
	else
		echo "setup-debian: need to install ${missing[*]} but am not root and sudo is missing" >&2
		exit 1
	fi
	echo "setup-debian: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# The Debian packages start system services on the default ports; the
	# tests never use those (they start their own on free 127.0.0.1 ports).
fi

if ! command -v go >/dev/null 2>&1; then
	echo "setup-debian: go not found on PATH; Go >= 1.${MIN_GO_MINOR} must come with the machine image (e.g. /usr/local/go/bin)" >&2
	exit 1
fi
go_version=$(go env GOVERSION 2>/dev/null || true) # e.g. go1.26.8
if [[ $go_version == devel* ]]; then
	: # a development toolchain is newer than any release
elif [[ ! $go_version =~ ^go1\.([0-9]+) ]]; then
	echo "setup-debian: cannot tell the Go version from '$(go version 2>&1)'; need Go >= 1.${MIN_GO_MINOR}" >&2
	exit 1
elif ((BASH_REMATCH[1] < MIN_GO_MINOR)); then
	echo "setup-debian: $(go version) is too old; need Go >= 1.${MIN_GO_MINOR} from the machine image" >&2
	exit 1
fi
