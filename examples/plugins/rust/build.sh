#!/usr/bin/env bash
# Builds the Rust example plugin two ways from main.rs, into $1 (default ./out):
#   rust-command.wasm  WASI command (_start), a plain binary
#   rust-reactor.wasm  WASI reactor (_initialize + pushagent_collect), a cdylib
# Needs Debian's rustc and libstd-rust-dev-wasm32 (scripts/setup-debian.sh
# installs them); no cargo. RUSTC defaults to /usr/bin/rustc, not the rustc
# on PATH: a rustup toolchain in ~/.cargo/bin often shadows it and lacks the
# wasm32-wasi standard library.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/out}
mkdir -p "$out"
rustc=${RUSTC:-/usr/bin/rustc}
# Symbols and std's debug info are 98% of an unstripped module (5.8 MB).
flags=(--target wasm32-wasi -O -C strip=symbols)

"$rustc" "${flags[@]}" -o "$out/rust-command.wasm" "$here/main.rs"
# rustc 1.63 has no stable reactor mode (-Z wasi-exec-model=reactor is
# nightly only). A bare cdylib links, but wasm-ld then wraps every export in
# __wasm_call_ctors/__wasm_call_dtors, re-running static constructors on
# each call. Linking the reactor start file of rustc's own wasi-libc gives
# a real _initialize that runs them once, as clang -mexec-model=reactor does.
crt1=$("$rustc" --print sysroot)/lib/rustlib/wasm32-wasi/lib/self-contained/crt1-reactor.o
"$rustc" "${flags[@]}" --crate-type cdylib \
	-C link-arg="$crt1" -C link-arg=--export=_initialize \
	-o "$out/rust-reactor.wasm" "$here/main.rs"
