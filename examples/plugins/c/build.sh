#!/usr/bin/env bash
# Builds the C example plugin three ways from example.c, into $1 (default ./out):
#   c-command.wasm  WASI command (_start)
#   c-reactor.wasm  WASI reactor (_initialize + pushagent_collect)
#   c-native        static native Linux binary, the fork/exec baseline
# Needs Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32
# (scripts/setup-debian.sh installs them). Debian's wasi-libc is a multiarch
# sysroot rooted at /usr (/usr/include/wasm32-wasi, /usr/lib/wasm32-wasi);
# set WASI_SYSROOT for another one, e.g. wasi-sdk's share/wasi-sysroot.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/out}
mkdir -p "$out"
clang=${CLANG:-clang}
sysroot=${WASI_SYSROOT:-/usr}
# The native build prefers cc (gcc) and falls back to clang, which pulls in
# libc6-dev (libc.a) on Debian, so -static works with either.
native_cc=${NATIVE_CC:-$(command -v cc || command -v clang || echo cc)}

# A 1 MiB stack at the bottom of memory: wasm-ld's default is 64 KiB above
# the static data, which a deeper stack overwrites silently; placed first,
# an overflow traps instead (docs/plugin-abi.md, "The stack").
wasm=("$clang" --target=wasm32-wasi --sysroot="$sysroot" -O2 -Wall -Wextra -Wl,--strip-all -Wl,-z,stack-size=1048576 -Wl,--stack-first)
"${wasm[@]}" -o "$out/c-command.wasm" "$here/example.c"
"${wasm[@]}" -mexec-model=reactor -o "$out/c-reactor.wasm" "$here/example.c"
"$native_cc" -static -O2 -s -Wall -Wextra -o "$out/c-native" "$here/example.c"
