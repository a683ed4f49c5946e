#!/usr/bin/env bash
# Installs the build tools Keywarden needs when they are missing: the wasm32 target,
# wasm-bindgen-cli (pinned to the wasm-bindgen crate version) and cargo-leptos.
#
# Both CLIs are built from their unpacked crates because `cargo install --locked` fails here
# (see ../shared/STACK.md): a locked dependency needs a newer rustc / is missing from the mirror.
# cargo itself fetches the crates (a throwaway manifest that depends on them, then `cargo fetch`),
# so no registry host is named here; the sources land in $CARGO_HOME/registry/src/*/.
set -euo pipefail

CARGO_LEPTOS_VERSION=0.3.11
WASM_BINDGEN_VERSION=0.2.130
CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
BIN="$CARGO_HOME/bin"

log() { printf '==> %s\n' "$*" >&2; }

# fetch_crate NAME VERSION: has cargo download NAME=VERSION, prints its unpacked source directory.
fetch_crate() {
  local name="$1" version="$2" work src
  work="$(mktemp -d)"
  mkdir -p "$work/src"
  : >"$work/src/lib.rs"
  cat >"$work/Cargo.toml" <<TOML
[package]
name = "keywarden-tool-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$name = "=$version"
TOML
  # Only the lock file and the download are wanted; the throwaway package is never built.
  (cd "$work" && cargo generate-lockfile -q && cargo fetch -q) >&2
  rm -rf "$work"
  for src in "$CARGO_HOME"/registry/src/*/"$name-$version"; do
    if [[ -f "$src/Cargo.toml" ]]; then
      printf '%s' "$src"
      return 0
    fi
  done
  log "cargo fetched $name $version but its source is not under $CARGO_HOME/registry/src"
  return 1
}

# build_crate SRC: installs the binaries of an unpacked crate from a private copy of it (the
# registry's copy stays untouched), with the given `cargo update` pins applied first.
build_crate() {
  local src="$1" copy
  shift
  copy="$(mktemp -d)"
  cp -R "$src/." "$copy/"
  (
    cd "$copy"
    for pin in "$@"; do
      # shellcheck disable=SC2086
      cargo update -q $pin 2>/dev/null || true
    done
  )
  cargo install --quiet --locked --path "$copy"
  rm -rf "$copy"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! "$BIN/wasm-bindgen" --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
  src="$(fetch_crate wasm-bindgen-cli "$WASM_BINDGEN_VERSION")"
  build_crate "$src" "-p webpki-roots@1.0.11 --precise 1.0.10"
fi

if ! "$BIN/cargo-leptos" --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 14 minutes on 2 cores, once)"
  src="$(fetch_crate cargo-leptos "$CARGO_LEPTOS_VERSION")"
  build_crate "$src" "-p cargo-util-schemas --precise 0.14.1"
fi

# cargo-leptos needs wasm-opt for release builds (run.sh, and the browser tests' site in test.sh).
# Debian's binaryen produces wasm that breaks hydration, so a pinned one from npm is installed
# into .tools/ of the checkout (once); the scripts put .tools/node_modules/.bin on PATH.
WASM_OPT_VERSION=132.0.0
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools"
if [[ ! -x "$TOOLS/node_modules/.bin/wasm-opt" ]]; then
  log "installing wasm-opt (npm binaryen@$WASM_OPT_VERSION) into .tools/"
  npm install --silent --no-fund --no-audit --prefix "$TOOLS" "binaryen@$WASM_OPT_VERSION" >/dev/null
fi
