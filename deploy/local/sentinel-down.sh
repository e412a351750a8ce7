#!/usr/bin/env bash
# Stop the local Redis with Sentinel started by deploy/local/sentinel-up.sh:
# the sentinel first (stopped after a data node, it would see the master go
# and fail over), then the data nodes; every process with a pid file under
# <run dir>/redis-sentinel/, whatever ports it was started on. Succeeds when
# nothing runs. Keeps the state (the AOF, and sentinel.conf, which names the
# current master), so the next sentinel-up.sh brings the same setup back with
# its data and its roles; with --reset it also deletes <run dir>/redis-sentinel/
# and <run dir>/sentinel-env (the next sentinel-up.sh starts empty).
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local reset
  reset="$(reset_flag "$@")" || exit 2

  if [[ ! -d "$SENTINEL_DIR" ]]; then
    log "redis sentinel: nothing to stop ($SENTINEL_DIR does not exist)"
    if ((reset)); then rm -f "$SENTINEL_ENV_FILE"; fi
    return 0
  fi
  exec 9>"$SENTINEL_DIR/.lock"
  flock -w 600 9 || die "another sentinel-up/sentinel-down holds $SENTINEL_DIR/.lock"

  local pidfile pid stopped=0
  # The sentinel (the directory holding sentinel.conf) first.
  for pidfile in "$SENTINEL_DIR"/*/redis.pid; do
    [[ -f "$pidfile" && -f "$(dirname "$pidfile")/sentinel.conf" ]] || continue
    pid="$(read_pid "$pidfile")"
    if pid_alive "$pid" "redis-server"; then
      stop_pid "redis sentinel $(basename "$(dirname "$pidfile")")" "$pid" "redis-server" 20
      stopped=$((stopped + 1))
    fi
  done
  for pidfile in "$SENTINEL_DIR"/*/redis.pid; do
    [[ -f "$pidfile" && ! -f "$(dirname "$pidfile")/sentinel.conf" ]] || continue
    pid="$(read_pid "$pidfile")"
    if pid_alive "$pid" "redis-server"; then
      stopped=$((stopped + 1))
      stop_pid "redis data node $(basename "$(dirname "$pidfile")")" "$pid" "redis-server" 20 &
    fi
  done
  wait
  rm -f "$SENTINEL_DIR"/*/redis.pid
  if ((stopped > 0)); then
    log "redis sentinel stopped ($stopped processes)"
  else
    log "redis sentinel already down"
  fi

  # Processes these scripts did not start still holding a port.
  warn_foreign_ports "$SENTINEL_DIR" sentinel-up.sh

  if ((reset)); then
    rm -rf "$SENTINEL_DIR" "$SENTINEL_ENV_FILE"
    log "redis sentinel state deleted ($SENTINEL_DIR)"
  fi
}

main "$@"
