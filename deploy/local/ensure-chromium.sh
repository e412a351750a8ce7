#!/usr/bin/env bash
# Make sure a headless browser is there for the status page test (part of `make test`):
# httpapi/statuspage_test.go renders GET /status with `chromium --headless --dump-dom`.
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

as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install $* by hand (or set ALSOBOUGHT_CHROMIUM)"
  log "installing $* with apt-get"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

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
