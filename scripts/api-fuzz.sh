#!/usr/bin/env bash
# Fuzzes the management API (/api/v1) from its own OpenAPI document with Schemathesis.
#
# Why: the document at /api/v1/openapi.json is generated from the handlers (utoipa), and clients
# are written against it. Schemathesis generates valid and invalid requests for every operation
# from that document and checks each answer: no 5xx, only documented status codes, content types
# and headers, bodies that match their schemas, invalid input refused, and no operation that works
# without the key. Any failure is a bug in the API or in its document.
#
# What it does: installs a pinned Schemathesis into a venv under .tools/schemathesis (git-ignored;
# pip uses its configured index), starts a throwaway server with scripts/e2e-server.sh (fresh
# SQLite database, an admin) on API_FUZZ_PORT, creates an API key with every scope through the
# CLI, seeds a few members and one incident through the API, runs Schemathesis with
# `--checks all`, then stops the server and removes its temporary directory. It builds nothing:
# run `cargo leptos build` first (scripts/test.sh does).
#
# Checks left out, and why:
#   positive_data_acceptance  expects every schema-valid request to succeed (2xx). Here valid
#       input meets real state: ids and incident references that do not exist (404), the policy
#       rejecting a schema-valid password, an e-mail address already taken, the last enabled
#       administrator keeping the role, an incident already closed, a session already ended, a
#       generated Idempotency-Key that an earlier, different request used (422). Those answers
#       are correct and documented; the check would only report them as failures.
#   Every other check runs, in particular not_a_server_error, status_code_conformance,
#   content_type_conformance, response_schema_conformance, response_headers_conformance,
#   negative_data_rejection and ignored_auth.
#
# The fuzzer calls every operation, the instance-wide ones too (sign everyone out, set every
# password compromised, replace the security settings): only ever point it at a throwaway server.
#
# Exit status: 0 when Schemathesis reports no failure; 1 when it reports failures, errors, or runs
# out of time; 77 when Schemathesis cannot be installed (scripts/test.sh counts that as a skip,
# or as a failure with CI=true).
#
# Environment (all optional):
#   API_FUZZ_PORT          port of the throwaway server (3390)
#   API_FUZZ_MAX_EXAMPLES  test cases per operation and phase (30)
#   API_FUZZ_WORKERS       concurrent Schemathesis workers, 1 or 2 (2)
#   API_FUZZ_TIMEOUT       limit on the whole Schemathesis run, in seconds (600)
#   API_FUZZ_SEED          Schemathesis seed (20261207: CI runs the same cases each time; set
#                          another to explore further)
#   API_FUZZ_REPORT_DIR    write Schemathesis' JUnit report into this directory (default: none)
#   KEYWARDEN_BIN          server binary (target/debug/keywarden)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=.tools/schemathesis

port="${API_FUZZ_PORT:-3390}"
max_examples="${API_FUZZ_MAX_EXAMPLES:-30}"
workers="${API_FUZZ_WORKERS:-2}"
time_limit="${API_FUZZ_TIMEOUT:-600}"
seed="${API_FUZZ_SEED:-20261207}"
bin="${KEYWARDEN_BIN:-target/debug/keywarden}"
base="http://127.0.0.1:$port"
member_password=Vivid-Harbor-Lantern-2931
scopes=users:read,users:write,sessions:read,sessions:write,incident:read,incident:write
scopes+=,audit:read,settings:read,settings:write,outbox:read

log() { printf '==> api-fuzz: %s\n' "$*" >&2; }
die() { printf '==> api-fuzz: error: %s\n' "$*" >&2; exit 1; }

[[ -x "$bin" ]] || die "$bin is missing: build first with 'cargo leptos build'"
command -v curl >/dev/null 2>&1 || die "curl is needed"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) is needed"

# --- Schemathesis -------------------------------------------------------------------------------
st="$PWD/$VENV/bin/st"
installed="$("$st" --version 2>/dev/null | sed -nE 's/.*version ([0-9.]+).*/\1/p' || true)"
if [[ "$installed" != "$SCHEMATHESIS_VERSION" ]]; then
  # Debian's python3 makes venvs only with python3-venv (ensurepip) installed.
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    sudo=()
    if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null 2>&1; then sudo=(sudo -n); fi
    log "installing python3-venv (apt-get install -y python3-venv)"
    "${sudo[@]}" apt-get install -y python3-venv >&2 \
      || { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y python3-venv >&2; } || true
  fi
  log "installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  if ! { [[ -x "$VENV/bin/pip" ]] || python3 -m venv "$VENV"; } \
    || ! "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" \
    || ! "$st" --version >/dev/null 2>&1; then
    log "error: schemathesis $SCHEMATHESIS_VERSION cannot be installed into $VENV"
    exit 77
  fi
fi

# --- throwaway server ---------------------------------------------------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  die "something already listens on 127.0.0.1:$port: set API_FUZZ_PORT to a free port"
fi

# Everything of this run lives in one directory: e2e-server.sh makes its own (database, config,
# mail) inside it through TMPDIR, so removing it removes them all.
work="$(mktemp -d "${TMPDIR:-/tmp}/keywarden-api-fuzz.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Mail goes to files in the temporary directory (reset e-mails), never to a test mail sink; the
# key's bucket is large enough that the fuzzer never meets 429.
(
  unset KEYWARDEN_TEST_SMTP_PORT
  export TMPDIR="$work" E2E_PORT="$port" KEYWARDEN_BIN="$bin"
  export KEYWARDEN_API_RATE_PER_MINUTE=100000 KEYWARDEN_API_BURST=100000
  exec bash scripts/e2e-server.sh
) >"$work/server.log" 2>&1 &
server_pid=$!

log "starting the server on $base (log: $work/server.log)"
up=0
for _ in $(seq 1 120); do
  if curl -fsS -o /dev/null -m 2 "$base/api/v1/openapi.json" 2>/dev/null; then
    up=1
    break
  fi
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.5
done
if ((!up)); then
  sed 's/^/    /' "$work/server.log" >&2 || true
  die "the server did not come up on $base"
fi
server_dir="$(ls -d "$work"/keywarden-e2e.* 2>/dev/null | head -n 1)"
[[ -n "$server_dir" && -f "$server_dir/keywarden.db" ]] || die "the server's directory is missing"

log "creating an API key with every scope"
key="$(KEYWARDEN_CONFIG="$server_dir/keywarden.toml" \
  KEYWARDEN_DATABASE_URL="sqlite://$server_dir/keywarden.db" \
  "$bin" api-key create --name api-fuzz --scopes "$scopes" --expires-in 1d 2>>"$work/cli.log")" \
  || { cat "$work/cli.log" >&2; die "'keywarden api-key create' failed"; }
[[ -n "$key" ]] || die "'keywarden api-key create' printed no key"

# api_post PATH JSON: POST with the key; fails unless the answer is 2xx.
api_post() {
  curl -fsS -o /dev/null -m 10 -X POST "$base$1" \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' --data "$2"
}

log "seeding 5 members and one incident"
for i in 1 2 3 4 5; do
  api_post /api/v1/users "{\"email\":\"member$i@example.com\",\"password\":\"$member_password\"}" \
    || die "creating member$i@example.com failed"
done
api_post /api/v1/incidents '{"title":"Fuzz"}' || die "opening the incident failed"

# --- the run ------------------------------------------------------------------------------------
out="$work/schemathesis.log"
report=()
if [[ -n "${API_FUZZ_REPORT_DIR:-}" ]]; then
  report=(--report junit --report-dir "$(realpath -m -- "$API_FUZZ_REPORT_DIR")")
fi
cmd=(
  "$st" run "$base/api/v1/openapi.json"
  --checks all
  --exclude-checks positive_data_acceptance
  --max-examples "$max_examples"
  --workers "$workers"
  --seed "$seed"
  --request-timeout 30
  --generation-database none
  --header "Authorization: Bearer $key"
  --no-color
  "${report[@]}"
)
log "running schemathesis $SCHEMATHESIS_VERSION (max examples $max_examples, workers $workers, seed $seed, at most ${time_limit}s)"
log "${cmd[*]/$key/kw_live_…}"
started=$SECONDS
rc=0
# From the temporary directory: Schemathesis keeps a cache of failures (.schemathesis/) in its
# working directory and reads a schemathesis.toml from there; neither belongs in the repository.
(cd "$work" && timeout --kill-after=30 "$time_limit" "${cmd[@]}") 2>&1 | tee "$out" || rc=$?
took=$((SECONDS - started))

# Schemathesis ends with "Test cases: N generated, ..." and a line such as
# "=== 5 failures, 1 error, 3 warnings in 12.68s ===" (or "=== No issues found in 20.1s ===").
cases="$(sed -nE 's/^[[:space:]]*([0-9]+ generated.*)$/\1/p' "$out" | tail -n 1)"
totals="$(sed -nE 's/^=+ (.* in [0-9.]+s) =+$/\1/p' "$out" | tail -n 1)"
summary="${totals:-no summary from schemathesis}${cases:+ ($cases)}, seed $seed, ${took}s"
if ((rc == 124 || rc == 137)); then
  log "FAILED: schemathesis did not finish within ${time_limit}s (seed $seed)"
  exit 1
elif ((rc != 0)); then
  log "FAILED: $summary (exit status $rc; the failures are listed above)"
  exit 1
fi
log "passed: $summary"
