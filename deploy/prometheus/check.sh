#!/usr/bin/env bash
# Check the Prometheus files of deploy/prometheus/ offline (part of `make test`):
#
#   promtool check rules  deploy/prometheus/alerts.yml        syntax, PromQL, templates, duplicates
#   promtool check config deploy/prometheus/prometheus.yml    the config and the rule files it names
#   promtool test rules   deploy/prometheus/alerts_test.yml   every alert fires, and does not, as tested
#
# Every check runs; the exit status is the first failure's. When promtool is missing, Debian's
# `prometheus` package (which ships it) is installed with apt-get (needs root or sudo). Where
# systemd runs services, that package also enables and starts a Prometheus server on :9090;
# containers with a policy-rc.d that denies starts (Docker's Debian images) only get the binaries.
# ALSOBOUGHT_PROMTOOL names another promtool binary (nothing is installed then).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PROM_DIR="deploy/prometheus"
PROMTOOL="${ALSOBOUGHT_PROMTOOL:-promtool}"

log() { printf '[check-prometheus] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

APT_HINT="or set ALSOBOUGHT_PROMTOOL"
# shellcheck source=deploy/local/apt.sh
source "$REPO_ROOT/deploy/local/apt.sh"

ensure_promtool() {
  if command -v "$PROMTOOL" >/dev/null 2>&1; then
    return 0
  fi
  [[ -z "${ALSOBOUGHT_PROMTOOL:-}" ]] || die "ALSOBOUGHT_PROMTOOL=$PROMTOOL is not an executable"
  apt_install prometheus
  command -v "$PROMTOOL" >/dev/null 2>&1 || die "promtool still missing after installing the prometheus package"
}

# run NAME CMD...: run one check, print its output, remember the first failure.
status=0
run() {
  local name="$1" rc=0
  shift
  log "$name: $*"
  "$@" || rc=$?
  if ((rc != 0)); then
    log "FAILED ($rc): $name"
    ((status != 0)) || status=$rc
  fi
}

main() {
  ensure_promtool
  cd "$REPO_ROOT"
  log "$("$PROMTOOL" --version 2>&1 | head -n 1)"

  # Lint problems (e.g. duplicate rules) fail the check where promtool can say so (2.42+).
  local lint=()
  # Matched on the captured help, not through a pipe: under pipefail, grep -q's
  # early exit can kill promtool with SIGPIPE and hide the flag.
  if [[ "$("$PROMTOOL" check rules --help 2>&1)" == *--lint-fatal* ]]; then
    lint=(--lint-fatal)
  fi

  run "rules" "$PROMTOOL" check rules "${lint[@]}" "$PROM_DIR/alerts.yml"
  # rule_files in prometheus.yml are relative to its directory, so this also checks alerts.yml
  # as the config loads it (the same layout docker-compose.yml mounts under /etc/prometheus/).
  run "config" "$PROMTOOL" check config "${lint[@]}" "$PROM_DIR/prometheus.yml"
  run "rule tests" "$PROMTOOL" test rules "$PROM_DIR/alerts_test.yml"

  if ((status != 0)); then
    log "ERROR: $PROM_DIR has problems (see above)"
    exit "$status"
  fi
  log "OK: $PROM_DIR/alerts.yml, prometheus.yml and alerts_test.yml"
}

main "$@"
