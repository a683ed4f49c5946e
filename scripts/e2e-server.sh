#!/usr/bin/env bash
# Starts a throwaway Keywarden server for the browser tests (Playwright's webServer command).
#
# Fresh temporary directory, fresh SQLite database, one admin account, then the server replaces
# this shell (exec) on 127.0.0.1:${E2E_PORT:-3100}. It builds nothing: run `cargo leptos build`
# first (scripts/test.sh does). Playwright starts several at once, one per port (see
# end2end/playwright.config.ts): nothing here is shared between them but the binary and the site.
#
# Environment (all optional):
#   E2E_PORT            port to listen on (3100)
#   E2E_ADMIN_EMAIL     admin account e-mail (admin@example.com)
#   E2E_ADMIN_PASSWORD  admin account password (Vivid-Harbor-Lantern-2931)
#   KEYWARDEN_BIN       server binary (target/debug/keywarden)
#   E2E_SITE_ROOT       wasm/CSS site built by cargo-leptos (target/site; scripts/test.sh builds it
#                       into target/test-site and sets LEPTOS_SITE_ROOT); LEPTOS_SITE_ROOT is
#                       honoured too when E2E_SITE_ROOT is unset
#   E2E_BASE_URL        public URL (http://127.0.0.1:$E2E_PORT); behind a proxy, the proxy's URL
#   E2E_APPLICATIONS    hosts to add as applications for every role (space-separated), for
#                       forward-auth; the other KEYWARDEN_* settings (KEYWARDEN_COOKIE_DOMAIN,
#                       KEYWARDEN_TRUSTED_PROXIES) pass through from the environment
#   KEYWARDEN_TEST_SMTP_PORT
#                       when set, mail goes by SMTP (no TLS) to 127.0.0.1 on this port (the
#                       maildev that scripts/test.sh starts); otherwise it is written as .eml files
#                       to the temporary directory
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

port="${E2E_PORT:-3100}"

log() { printf '==> e2e-server :%s: %s\n' "$port" "$*" >&2; }
die() { printf '==> e2e-server :%s: error: %s\n' "$port" "$*" >&2; exit 1; }

admin_email="${E2E_ADMIN_EMAIL:-admin@example.com}"
admin_password="${E2E_ADMIN_PASSWORD:-Vivid-Harbor-Lantern-2931}"
bin="${KEYWARDEN_BIN:-target/debug/keywarden}"
site_root="${E2E_SITE_ROOT:-${LEPTOS_SITE_ROOT:-target/site}}"

[[ -x "$bin" ]] || die "$bin is missing: build first with 'cargo leptos build'"
[[ -d "$site_root/pkg" ]] || die "$site_root/pkg is missing: build first with 'cargo leptos build'"

# exec keeps this PID for the server, so each directory records the PID that uses it. Directories
# left behind by earlier runs (Playwright kills the server, so nothing here can clean up after it)
# are removed once their server is gone. A directory without a pid file may belong to a server
# starting at this very moment (between its mktemp and its pid file): it is left alone unless it is
# older than 10 minutes.
tmp_root="${TMPDIR:-/tmp}"
for old in "$tmp_root"/keywarden-e2e.*; do
  [[ -d "$old" ]] || continue
  old_pid="$(cat "$old/pid" 2>/dev/null || true)"
  if [[ -z "$old_pid" ]]; then
    [[ -n "$(find "$old" -maxdepth 0 -mmin +10 2>/dev/null)" ]] || continue
    rm -rf -- "$old"
  elif ! kill -0 "$old_pid" 2>/dev/null; then
    rm -rf -- "$old"
  fi
done

dir="$(mktemp -d "$tmp_root/keywarden-e2e.XXXXXX")"
printf '%s\n' "$$" >"$dir/pid"
db="$dir/keywarden.db"
: >"$db"
# An empty config file, so a developer's ./keywarden.toml cannot leak into the tests; without an
# SMTP sink, outgoing mail lands in the temporary directory too.
: >"$dir/keywarden.toml"

export LEPTOS_SITE_ROOT="$site_root"
export KEYWARDEN_CONFIG="$dir/keywarden.toml"
export KEYWARDEN_MAIL_DIR="$dir/mail"
export KEYWARDEN_DATABASE_URL="sqlite://$db"
export KEYWARDEN_LISTEN="127.0.0.1:$port"
export KEYWARDEN_BASE_URL="${E2E_BASE_URL:-http://127.0.0.1:$port}"

# A developer's SMTP settings must never make the tests send real mail.
unset KEYWARDEN_SMTP_HOST KEYWARDEN_SMTP_PORT KEYWARDEN_SMTP_TLS KEYWARDEN_SMTP_USERNAME \
  KEYWARDEN_SMTP_PASSWORD
if [[ -n "${KEYWARDEN_TEST_SMTP_PORT:-}" ]]; then
  export KEYWARDEN_SMTP_HOST=127.0.0.1
  export KEYWARDEN_SMTP_PORT="$KEYWARDEN_TEST_SMTP_PORT"
  export KEYWARDEN_SMTP_TLS=none
  log "mail goes by SMTP to 127.0.0.1:$KEYWARDEN_SMTP_PORT"
else
  log "mail is written to $KEYWARDEN_MAIL_DIR (KEYWARDEN_TEST_SMTP_PORT is unset)"
fi

log "database $db"
"$bin" migrate || die "'keywarden migrate' failed"

log "creating admin $admin_email"
printf '%s\n' "$admin_password" | "$bin" admin create --email "$admin_email" \
  || die "'keywarden admin create' failed"

for host in ${E2E_APPLICATIONS:-}; do
  log "adding application $host"
  "$bin" app add --name "$host" --host "$host" --roles admin,member \
    || die "'keywarden app add --host $host' failed"
done

log "serving on $KEYWARDEN_BASE_URL"
exec "$bin" serve
