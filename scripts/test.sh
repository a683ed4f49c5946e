#!/usr/bin/env bash
# Runs every Keywarden test: the Rust unit and integration tests (SQLite and PostgreSQL), then the
# browser tests (Playwright on the system Chromium) against a freshly built server, and a fuzz run
# of the management API from its OpenAPI document (scripts/api-fuzz.sh, Schemathesis).
#
# Outside CI a missing PostgreSQL, Chromium, nginx or Caddy, or a Schemathesis that cannot be
# installed, only skips the tests that need it, with a warning; with CI=true it is an error. The
# exit status is non-zero when any step fails.
#
# Skipped tests are reported as skipped, not as passed: the Rust tests print a line
# `SKIP: <test name> (<why>)` on standard error for each case they skip and append it to the file
# KEYWARDEN_TEST_SKIP_LOG names (tests/common/mod.rs). cargo test runs with --show-output, so the
# lines also get through libtest's output capture into the output, which is shown and kept in a
# log. The SKIP lines are counted (from the skip file, or from the output when the tests wrote no
# file) and the summary at the end says how many cases were skipped and why, next to the steps it
# skipped. Under CI=true a SKIP line is a failure. Playwright's count of skipped browser tests is
# reported too.
#
# Environment (all optional):
#   CI                            "true" makes missing services fatal
#   KEYWARDEN_TEST_POSTGRES_URL   server the Rust tests create their databases on
#                                 (postgres://postgres@127.0.0.1:5432/postgres)
#   E2E_CHROMIUM                  browser for Playwright (/usr/bin/chromium)
#   E2E_PORT                      first port of the servers under browser test (3100; the
#                                 browser tests start three: E2E_PORT .. E2E_PORT+2)
#   KEYWARDEN_TEST_SMTP_PORT      SMTP port of the maildev mail sink (1025)
#   KEYWARDEN_TEST_MAILDEV_PORT   web/REST port of that maildev (1080)
#
# maildev (end2end/node_modules, installed by npm ci) is started on those ports for the run and
# stopped at the end; a maildev already answering there is reused instead. The Rust tests and
# Playwright find it through KEYWARDEN_TEST_SMTP_PORT and KEYWARDEN_TEST_MAILDEV_URL.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

log() { printf '==> %s\n' "$*"; }
warn() { printf '==> WARNING: %s\n' "$*" >&2; }
die() { printf '==> ERROR: %s\n' "$*" >&2; exit 1; }
is_ci() { case "${CI:-}" in true | TRUE | True | 1) return 0 ;; *) return 1 ;; esac; }

# Root-only commands (apt-get, pg_ctlcluster) go through sudo when it works without a password.
SUDO=()
if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1; then SUDO=(sudo -n); fi

failed=()
skipped=()
# What the summary says about skipped test cases ("==> SKIPPED: ..." lines).
skipped_cases=()
# Output of the test runs, kept for counting skipped cases (created later, removed at exit).
logs_dir=""

# step DESCRIPTION COMMAND...: runs COMMAND, records a failure instead of stopping the script, so
# one run reports every failing step.
step() {
  local name="$1" rc
  shift
  log "$name"
  if "$@"; then
    return 0
  else
    rc=$?
    warn "$name failed (exit status $rc)"
    failed+=("$name")
    return 1
  fi
}

# --- build tools ------------------------------------------------------------------------------
log "checking build tools (scripts/install-tools.sh)"
bash scripts/install-tools.sh
export PATH="$PWD/.tools/node_modules/.bin:$PATH"

# --- PostgreSQL -------------------------------------------------------------------------------
export KEYWARDEN_TEST_POSTGRES_URL="${KEYWARDEN_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
postgres_skip_reason=""

postgres_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -t 3 -d "$KEYWARDEN_TEST_POSTGRES_URL"
  elif command -v psql >/dev/null 2>&1; then
    psql "$KEYWARDEN_TEST_POSTGRES_URL" -qAtc 'select 1' >/dev/null 2>&1
  else
    return 1
  fi
}

start_local_postgres() {
  command -v pg_ctlcluster >/dev/null 2>&1 || return 1
  [[ -d /etc/postgresql ]] || return 1
  local version
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  [[ -n "$version" ]] || return 1
  log "starting the local PostgreSQL $version cluster"
  "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start || return 1
  for _ in $(seq 1 30); do
    postgres_up && return 0
    sleep 0.5
  done
  return 1
}

if [[ "${KEYWARDEN_TEST_SKIP_POSTGRES:-}" == 1 ]]; then
  warn "KEYWARDEN_TEST_SKIP_POSTGRES=1 is set: the PostgreSQL tests will be skipped"
  postgres_skip_reason="KEYWARDEN_TEST_SKIP_POSTGRES=1"
  skipped+=("PostgreSQL tests ($postgres_skip_reason)")
else
  log "checking PostgreSQL ($KEYWARDEN_TEST_POSTGRES_URL)"
  if ! postgres_up && ! start_local_postgres; then
    if is_ci; then
      die "PostgreSQL is unreachable at $KEYWARDEN_TEST_POSTGRES_URL (CI=true: it is required)"
    fi
    warn "PostgreSQL is unreachable at $KEYWARDEN_TEST_POSTGRES_URL: skipping the PostgreSQL tests"
    export KEYWARDEN_TEST_SKIP_POSTGRES=1
    postgres_skip_reason="no server at $KEYWARDEN_TEST_POSTGRES_URL"
    skipped+=("PostgreSQL tests ($postgres_skip_reason)")
  fi
fi

# --- Chromium and Node ------------------------------------------------------------------------
CHROMIUM="${E2E_CHROMIUM:-/usr/bin/chromium}"
export E2E_CHROMIUM="$CHROMIUM"
browser_tests=1
# Node.js runs Playwright and maildev, the SMTP sink of the Rust mail tests too.
node_tools=1

log "checking Chromium ($CHROMIUM)"
if [[ ! -x "$CHROMIUM" && "$CHROMIUM" == /usr/bin/chromium ]] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  log "installing Chromium (apt-get install -y chromium)"
  if ! "${SUDO[@]}" apt-get install -y chromium; then
    log "retrying after apt-get update"
    { "${SUDO[@]}" apt-get update && "${SUDO[@]}" apt-get install -y chromium; } || true
  fi
fi
if [[ ! -x "$CHROMIUM" ]]; then
  is_ci && die "Chromium is missing at $CHROMIUM (CI=true: the browser tests are required)"
  warn "Chromium is missing at $CHROMIUM: skipping the browser tests"
  browser_tests=0
  skipped+=("browser tests (no Chromium at $CHROMIUM)")
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v npx >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  is_ci && die "Node.js (node, npm, npx) is missing (CI=true: the browser tests and the mail sink are required)"
  warn "Node.js (node, npm, npx) is missing: skipping the browser tests and the mail delivery tests"
  node_tools=0
  if ((browser_tests)); then skipped+=("browser tests (no Node.js)"); fi
  browser_tests=0
fi

# --- reverse proxies (nginx, Caddy) -----------------------------------------------------------
# The forward-auth tests (tests/forward_auth.rs, end2end/tests/forward-auth.spec.ts) start nginx and
# Caddy as their own processes: their own config, pid, logs and temporary files in a temporary
# directory, on free ports, as the current user. The packages' system services are not needed, and
# when this script installs a package it stops and disables the service Debian may have started.
# Outside CI a proxy that cannot be installed only skips the tests through it (SKIP: lines);
# with CI=true it is an error.
proxy_program() {
  local found
  found="$(command -v "$1" 2>/dev/null)" || found=""
  if [[ -z "$found" && -x "/usr/sbin/$1" ]]; then found="/usr/sbin/$1"; fi
  [[ -n "$found" ]] && printf '%s' "$found"
}

missing_proxies=()
for proxy in nginx caddy; do
  proxy_program "$proxy" >/dev/null || missing_proxies+=("$proxy")
done
if ((${#missing_proxies[@]})) && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  log "installing ${missing_proxies[*]} (apt-get install -y ${missing_proxies[*]})"
  if ! "${SUDO[@]}" apt-get install -y "${missing_proxies[@]}"; then
    log "retrying after apt-get update"
    { "${SUDO[@]}" apt-get update && "${SUDO[@]}" apt-get install -y "${missing_proxies[@]}"; } || true
  fi
  for proxy in "${missing_proxies[@]}"; do
    proxy_program "$proxy" >/dev/null || continue
    if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
      "${SUDO[@]}" systemctl disable --now "$proxy" >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
      "${SUDO[@]}" service "$proxy" stop >/dev/null 2>&1 || true
    fi
  done
fi
for proxy in nginx caddy; do
  if path="$(proxy_program "$proxy")"; then
    # tests/common/proxy.rs and end2end/tests/proxy-support.ts look here first.
    export "KEYWARDEN_TEST_${proxy^^}=$path"
  else
    is_ci && die "$proxy cannot be installed (CI=true: the forward-auth tests through it are required)"
    warn "$proxy is missing and cannot be installed: skipping the forward-auth tests through it"
    skipped+=("forward-auth tests through $proxy (not installed)")
  fi
done

# --- Node packages (Playwright, maildev) ------------------------------------------------------
npm_ci() { (cd end2end && npm ci --no-audit --no-fund); }

if ((node_tools)); then
  if ! step "installing Playwright and maildev (npm ci in end2end/)" npm_ci; then
    node_tools=0
    browser_tests=0
  fi
fi

# --- mail sink (maildev) ----------------------------------------------------------------------
smtp_port="${KEYWARDEN_TEST_SMTP_PORT:-1025}"
maildev_port="${KEYWARDEN_TEST_MAILDEV_PORT:-1080}"
maildev_url="http://127.0.0.1:$maildev_port"
maildev_bin="end2end/node_modules/.bin/maildev"
maildev_pid=""
maildev_dir=""

cleanup() {
  stop_maildev
  if [[ -n "$logs_dir" ]]; then rm -rf -- "$logs_dir"; fi
}

stop_maildev() {
  if [[ -n "$maildev_pid" ]]; then
    kill "$maildev_pid" 2>/dev/null || true
    wait "$maildev_pid" 2>/dev/null || true
    maildev_pid=""
  fi
  if [[ -n "$maildev_dir" ]]; then
    rm -rf -- "$maildev_dir"
    maildev_dir=""
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# http_ok URL: true when URL answers 2xx within 2 seconds.
http_ok() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null -m 2 "$1" 2>/dev/null
  else
    node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) })
      .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1" 2>/dev/null
  fi
}

# smtp_open: true when something accepts TCP connections on the SMTP port.
smtp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$smtp_port") 2>/dev/null; }

maildev_up() { http_ok "$maildev_url/healthz" && smtp_open; }

start_maildev() {
  [[ -x "$maildev_bin" ]] || { warn "$maildev_bin is missing"; return 1; }
  maildev_dir="$(mktemp -d "${TMPDIR:-/tmp}/keywarden-maildev.XXXXXX")"
  log "starting maildev (SMTP 127.0.0.1:$smtp_port, REST $maildev_url)"
  "$maildev_bin" --smtp "$smtp_port" --web "$maildev_port" --ip 127.0.0.1 \
    --mail-directory "$maildev_dir/mail" >"$maildev_dir/maildev.log" 2>&1 &
  maildev_pid=$!
  for _ in $(seq 1 60); do
    maildev_up && return 0
    kill -0 "$maildev_pid" 2>/dev/null || break
    sleep 0.25
  done
  warn "maildev did not come up on ports $smtp_port/$maildev_port; its output:"
  sed 's/^/    /' "$maildev_dir/maildev.log" >&2 || true
  stop_maildev
  return 1
}

mail_sink=0
if ((node_tools)); then
  log "checking the mail sink (maildev on $maildev_url)"
  if maildev_up; then
    log "reusing the maildev already running on $maildev_url (SMTP port $smtp_port)"
    mail_sink=1
  elif start_maildev; then
    mail_sink=1
  fi
fi
if ((mail_sink)); then
  export KEYWARDEN_TEST_SMTP_PORT="$smtp_port"
  export KEYWARDEN_TEST_MAILDEV_URL="$maildev_url"
else
  is_ci && die "maildev cannot run on ports $smtp_port/$maildev_port (CI=true: the mail tests are required)"
  warn "no mail sink: skipping the mail delivery tests"
  unset KEYWARDEN_TEST_SMTP_PORT KEYWARDEN_TEST_MAILDEV_URL
  skipped+=("mail delivery tests (no maildev on ports $smtp_port/$maildev_port)")
fi

# --- structure ---------------------------------------------------------------------------------
# The import graph of src/ has no cycle and no arrow from a lower layer to a higher one
# (docs/architecture.md).
step "layering (python3 scripts/check-layers.py)" python3 scripts/check-layers.py || true

# --- Rust tests -------------------------------------------------------------------------------
logs_dir="$(mktemp -d "${TMPDIR:-/tmp}/keywarden-test-logs.XXXXXX")"
rust_log="$logs_dir/cargo-test.log"
export KEYWARDEN_TEST_SKIP_LOG="$logs_dir/skipped.log"

# --no-fail-fast: a failing test binary does not hide the results of the others. Shown as it
# runs and kept in $rust_log. --show-output prints what passing tests wrote (libtest captures
# eprintln!), where the SKIP lines are; pipefail keeps cargo's exit status.
rust_tests() { cargo test --no-fail-fast --features ssr -- --test-threads=2 --show-output 2>&1 | tee "$rust_log"; }

# skip_lines FILE: the lines of FILE that start with "SKIP:" (colour codes removed).
skip_lines() { sed -E 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null | grep -E '^SKIP:' || true; }

rust_skips() {
  local lines total postgres other
  if [[ -f "$KEYWARDEN_TEST_SKIP_LOG" ]]; then
    lines="$(skip_lines "$KEYWARDEN_TEST_SKIP_LOG")"
  else
    lines="$(skip_lines "$rust_log")"
  fi
  total=0 postgres=0
  if [[ -n "$lines" ]]; then
    total="$(printf '%s\n' "$lines" | wc -l)"
    postgres="$(printf '%s\n' "$lines" | grep -c 'PostgreSQL' || true)"
  fi
  other=$((total - postgres))
  if ((postgres)); then
    skipped_cases+=("$postgres PostgreSQL test cases (${postgres_skip_reason:-PostgreSQL unavailable})")
  fi
  if ((other)); then
    skipped_cases+=("$other other Rust test cases (see the SKIP: lines of the cargo test output)")
  fi
  if ((total)) && is_ci; then
    warn "CI=true: $total Rust test cases were skipped, none may be"
    failed+=("Rust tests skipped $total cases under CI=true")
  fi
}

step "Rust tests (cargo test --features ssr)" rust_tests || true
rust_skips

# --- browser tests ----------------------------------------------------------------------------
playwright_log="$logs_dir/playwright.log"

playwright() { (cd end2end && npx playwright test) 2>&1 | tee "$playwright_log"; }

# Playwright's list reporter ends with "  N skipped" among its totals.
browser_skips() {
  local n
  n="$(sed -E 's/\x1b\[[0-9;]*m//g' "$playwright_log" 2>/dev/null \
    | sed -nE 's/^[[:space:]]*([0-9]+) skipped[[:space:]]*$/\1/p' | tail -n 1)"
  if [[ -n "$n" ]] && ((n)); then
    skipped_cases+=("$n browser tests (marked skipped in the Playwright output above)")
  fi
}

# The API fuzz run (scripts/api-fuzz.sh) exits 77 when Schemathesis cannot be installed: a skip,
# except with CI=true.
api_fuzz() {
  local rc=0
  bash scripts/api-fuzz.sh || rc=$?
  if ((rc == 77)) && ! is_ci; then
    warn "Schemathesis cannot be installed: skipping the API fuzz run"
    skipped+=("API fuzz run (Schemathesis cannot be installed)")
    return 0
  fi
  return "$rc"
}

# Built even without a browser: the API fuzz run uses the same server binary. The debug site goes
# to a directory of its own (cargo-leptos and the server both read LEPTOS_SITE_ROOT), so a release
# server started by scripts/run.sh from this checkout keeps the release site it was built with.
export LEPTOS_SITE_ROOT="$PWD/target/test-site"
# The site is built as it ships: release wasm with the console's pages split out (lazy routes)
# and hashed file names, so the browser tests exercise, and measure, what visitors download. Its
# hash file sits in the site (both cargo-leptos and the server read LEPTOS_HASH_FILE_NAME). The
# server under test is the debug build, which shares its compiled dependencies with the Rust
# tests; the compressed copies are written once, before the three test servers start.
export LEPTOS_HASH_FILE_NAME="$LEPTOS_SITE_ROOT/hash.txt"
build_test_site() {
  cargo leptos build --release --split --frontend-only \
    && cargo leptos build --server-only \
    && target/debug/keywarden compress-site
}
if step "building the site (release wasm, split) and the server (debug), site in target/test-site" build_test_site; then
  if ((browser_tests)); then
    step "browser tests (npx playwright test in end2end/)" playwright || true
    browser_skips
  fi
  step "API fuzz run (scripts/api-fuzz.sh, Schemathesis)" api_fuzz || true
fi

# --- summary ----------------------------------------------------------------------------------
for what in "${skipped[@]}"; do warn "skipped: $what"; done
for what in "${skipped_cases[@]}"; do printf '==> SKIPPED: %s\n' "$what" >&2; done
if ((${#failed[@]})); then
  for what in "${failed[@]}"; do printf '==> FAILED: %s\n' "$what" >&2; done
  exit 1
fi
if ((${#skipped[@]} || ${#skipped_cases[@]})); then
  log "all tests that ran passed (some were skipped, see above)"
else
  log "all tests passed"
fi
