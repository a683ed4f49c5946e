#!/usr/bin/env bash
# Runs Keywarden on SQLite: installs what is missing, builds (release), migrates, serves on
# KEYWARDEN_LISTEN (default 127.0.0.1:3000).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-tools.sh

# wasm-opt for the release wasm (installed by install-tools.sh).
export PATH="$PWD/.tools/node_modules/.bin:$PATH"

# The release site has its own directory (scripts/test.sh builds its debug site elsewhere).
export LEPTOS_SITE_ROOT="$PWD/target/site"
echo "==> building Keywarden (release; the first build takes several minutes)" >&2
# --split: the console's pages are split out of the main wasm and loaded when first visited.
cargo leptos build --release --split

export KEYWARDEN_DATABASE_URL="${KEYWARDEN_DATABASE_URL:-sqlite://keywarden.db}"
export KEYWARDEN_LISTEN="${KEYWARDEN_LISTEN:-127.0.0.1:3000}"

target/release/keywarden migrate

cat >&2 <<MSG

Keywarden is starting on http://${KEYWARDEN_LISTEN} (database: ${KEYWARDEN_DATABASE_URL}).
Create the first administrator from another terminal, in this directory:

    KEYWARDEN_DATABASE_URL=${KEYWARDEN_DATABASE_URL} target/release/keywarden admin create --email you@example.com

Stop the server with Ctrl-C.

MSG
exec target/release/keywarden serve
