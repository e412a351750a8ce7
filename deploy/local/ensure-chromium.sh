#!/usr/bin/env bash
# Make sure a headless browser is there for the status page test (part of `make test`):
# internal/httpapi/statuspage_test.go renders GET /status with `chromium --headless --dump-dom`.
#
# When chromium is missing, Debian's `chromium` package is installed with apt-get (needs root or
# sudo). ALSOBOUGHT_CHROMIUM names another browser binary (nothing is installed then); the test
# reads the same variable. Prints the browser's version on stderr.
set -euo pipefail

CHROMIUM="${ALSOBOUGHT_CHROMIUM:-chromium}"

log() { printf '[ensure-chromium] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

APT_HINT="or set ALSOBOUGHT_CHROMIUM"
# shellcheck source=deploy/local/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ensure_chromium() {
  if command -v "$CHROMIUM" >/dev/null 2>&1; then
    return 0
  fi
  [[ -z "${ALSOBOUGHT_CHROMIUM:-}" ]] || die "ALSOBOUGHT_CHROMIUM=$CHROMIUM is not an executable"
  # fonts-liberation: without any font the screenshots show boxes instead of letters.
  apt_install chromium fonts-liberation
  command -v "$CHROMIUM" >/dev/null 2>&1 || die "chromium still missing after installing the chromium package"
}

main() {
  ensure_chromium
  log "$("$CHROMIUM" --version 2>/dev/null | head -n 1)"
}

main "$@"
