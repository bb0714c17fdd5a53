#!/usr/bin/env bash
# Builds the WAT example plugin into $1 (default ./out):
#   wat-reactor.wasm  WASI reactor (pushagent_collect, no _initialize)
# Needs wat2wasm from Debian's wabt (scripts/setup-debian.sh installs it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/out}
mkdir -p "$out"
"${WAT2WASM:-wat2wasm}" "$here/example.wat" -o "$out/wat-reactor.wasm"
