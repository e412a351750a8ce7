#!/usr/bin/env bash
# Stop the local Redis Cluster started by deploy/local/cluster-up.sh: every node
# with a pid file under <run dir>/redis-cluster/ (whatever ports it was started
# on). Succeeds when nothing runs. Keeps the state (nodes.conf and the AOF), so
# the next cluster-up.sh brings back the same cluster with its data; with
# --reset it also deletes <run dir>/redis-cluster/ and <run dir>/cluster-env
# (the next cluster-up.sh creates a new, empty cluster).
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

main() {
  local reset
  reset="$(reset_flag "$@")" || exit 2

  if [[ ! -d "$CLUSTER_DIR" ]]; then
    log "redis cluster: nothing to stop ($CLUSTER_DIR does not exist)"
    if ((reset)); then
      rm -f "$CLUSTER_ENV_FILE"
      drop_env_lines "$SECURE_ENV_FILE" ALSOBOUGHT_TEST_REDIS_CLUSTER_TLS_ADDRS
    fi
    return 0
  fi
  exec 9>"$CLUSTER_DIR/.lock"
  flock -w 600 9 || die "another cluster-up/cluster-down holds $CLUSTER_DIR/.lock"

  # SIGTERM to every node first, then wait: stopped one by one, a master's
  # replica would see it fail after cluster-node-timeout and take over.
  local pidfile pid stopped=0 pids=()
  for pidfile in "$CLUSTER_DIR"/*/redis.pid; do
    [[ -f "$pidfile" ]] || continue
    pid="$(read_pid "$pidfile")"
    if pid_alive "$pid" "redis-server"; then
      pids+=("$pid")
      stop_pid "redis cluster node $(basename "$(dirname "$pidfile")")" "$pid" "redis-server" 20 &
    fi
  done
  wait
  stopped=${#pids[@]}
  rm -f "$CLUSTER_DIR"/*/redis.pid
  if ((stopped > 0)); then
    log "redis cluster stopped ($stopped nodes)"
  else
    log "redis cluster already down"
  fi

  # Processes these scripts did not start still holding a node's port.
  warn_foreign_ports "$CLUSTER_DIR" cluster-up.sh

  if ((reset)); then
    # The lock file lives inside the directory: deleting it under the lock is
    # fine (a waiting cluster-up.sh then recreates everything).
    rm -rf "$CLUSTER_DIR" "$CLUSTER_ENV_FILE"
    drop_env_lines "$SECURE_ENV_FILE" ALSOBOUGHT_TEST_REDIS_CLUSTER_TLS_ADDRS
    log "redis cluster state deleted ($CLUSTER_DIR)"
  fi
}

main "$@"
