#!/usr/bin/env bash
# Validate docker-compose.yml without a Docker engine: `docker-compose config -q`
# only parses, interpolates and checks the file. Installs Debian's docker-compose
# package when the command is missing.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COMPOSE_FILE="${1:-$REPO_ROOT/docker-compose.yml}"

log() { printf '[check-compose] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

# shellcheck source=deploy/local/apt.sh
source "$REPO_ROOT/deploy/local/apt.sh"

if ! command -v docker-compose >/dev/null 2>&1; then
  apt_install docker-compose
  command -v docker-compose >/dev/null 2>&1 || die "docker-compose still missing after installing the docker-compose package"
fi

cd "$REPO_ROOT"
if ! out="$(docker-compose -f "$COMPOSE_FILE" config -q 2>&1)"; then
  log "ERROR: $COMPOSE_FILE is INVALID:"
  printf '%s\n' "$out" >&2
  exit 1
fi
# docker-compose v1 prints some problems as warnings and still exits 0.
if [[ -n "$out" ]]; then
  printf '%s\n' "$out" >&2
  if grep -qiE 'warn|error|invalid|unsupported' <<<"$out"; then
    log "ERROR: $COMPOSE_FILE produced warnings (see above)"
    exit 1
  fi
fi
# `config` does not look at the host side of bind mounts, and Docker would create a missing one as
# an empty directory (Prometheus then fails on its config, Grafana provisions nothing). In the
# resolved output a bind mount is a short-syntax entry "- /abs/host/path:/container/path[:mode]"
# of a service's volumes.
missing=0
while IFS= read -r src; do
  if [[ ! -e "$src" ]]; then
    log "ERROR: bind-mount source $src does not exist"
    missing=1
  fi
done < <(docker-compose -f "$COMPOSE_FILE" config 2>/dev/null |
  awk '/^    volumes:$/ { inv = 1; next }
       inv && /^    - \// { v = substr($0, 7); sub(/:.*/, "", v); print v; next }
       { inv = 0 }')
if ((missing)); then
  log "ERROR: $COMPOSE_FILE mounts files that are not in the repository"
  exit 1
fi
log "OK: $COMPOSE_FILE is valid ($(docker-compose version --short 2>/dev/null || echo '?'))"
