#!/usr/bin/env bash
# Installs the build tools Keywarden needs when they are missing: the wasm32 target,
# wasm-bindgen-cli (pinned to the wasm-bindgen crate version) and cargo-leptos.
# Both CLIs are built from their unpacked crates because `cargo install --locked` fails here
# (see ../shared/STACK.md): a locked dependency needs a newer rustc / is missing from the mirror.
set -euo pipefail

CARGO_LEPTOS_VERSION=0.3.11
WASM_BINDGEN_VERSION=0.2.130
BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

log() { printf '==> %s\n' "$*" >&2; }

unpack_crate() { # name version -> prints directory
  local dir
  dir="$(mktemp -d)"
  curl -fsSL "https://static.crates.io/crates/$1/$1-$2.crate" | tar -xz -C "$dir"
  printf '%s/%s-%s' "$dir" "$1" "$2"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! "$BIN/wasm-bindgen" --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
  src="$(unpack_crate wasm-bindgen-cli "$WASM_BINDGEN_VERSION")"
  (cd "$src" && cargo update -q -p webpki-roots@1.0.11 --precise 1.0.10 2>/dev/null || true)
  cargo install --quiet --locked --path "$src"
  rm -rf "$(dirname "$src")"
fi

if ! "$BIN/cargo-leptos" --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 14 minutes on 2 cores, once)"
  src="$(unpack_crate cargo-leptos "$CARGO_LEPTOS_VERSION")"
  (cd "$src" && cargo update -q -p cargo-util-schemas --precise 0.14.1)
  cargo install --quiet --locked --path "$src"
  rm -rf "$(dirname "$src")"
fi
