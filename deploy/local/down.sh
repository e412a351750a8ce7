#!/usr/bin/env bash
# Stop the local Kafka broker and redis-server started by deploy/local/up.sh
# (only one of them with ALSOBOUGHT_LOCAL_SERVICES=kafka or =redis).
# Succeeds when they are already down. Keeps all state under the run dir
# (reset with: deploy/local/down.sh && rm -rf .run).
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_kafka() {
  local pid
  pid="$(kafka_pid)"
  if pid_alive "$pid" "kafka.Kafka"; then
    # Controlled shutdown of a single node takes a few seconds.
    stop_pid kafka "$pid" "kafka.Kafka" 60
    log "kafka stopped"
  else
    log "kafka already down"
  fi
  rm -f "$KAFKA_PID_FILE"
}

stop_redis() {
  local pid
  pid="$(redis_pid)"
  if pid_alive "$pid" "redis-server"; then
    # SIGTERM: redis fsyncs the AOF and exits.
    stop_pid redis "$pid" "redis-server" 20
    log "redis stopped"
  else
    log "redis already down"
  fi
  rm -f "$REDIS_PID_FILE"
}

main() {
  check_services
  if [[ ! -d "$RUN_DIR" ]]; then
    log "nothing to stop ($RUN_DIR does not exist)"
    return 0
  fi
  exec 9>"$RUN_DIR/.lock"
  flock -w 600 9 || die "another deploy/local up/down holds $RUN_DIR/.lock"
  local ports=()
  if want_service kafka; then
    stop_kafka
    ports+=("$KAFKA_PORT")
  fi
  if want_service redis; then
    stop_redis
    ports+=("$REDIS_PORT")
  fi
  # Processes this script did not start still holding the ports.
  local p
  for p in "${ports[@]}"; do
    if port_open "$HOST" "$p"; then
      log "warning: $HOST:$p still answers (a process not started by deploy/local/up.sh?)"
    fi
  done
}

main "$@"
