#!/usr/bin/env bash
# Show whether the local Kafka broker and redis-server are up (only one of them
# with ALSOBOUGHT_LOCAL_SERVICES=kafka or =redis).
# Exit 0 when every selected service is up, 1 otherwise.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# row NAME STATE PID ADDR LOG
row() { printf '%-6s %-8s pid=%-8s addr=%-22s log=%s\n' "$1" "$2" "${3:--}" "$4" "$5"; }

kafka_version_in_use() {
  local pid cmdline
  pid="$(kafka_pid)"
  [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 0
  cmdline="$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  # The classpath is <cache>/kafka-<version>/lib/*
  sed -n 's|.*/kafka-\([^/]*\)/lib/\*$|\1|p;T;q' <<<"$cmdline"
}

check_services
rc=0

if want_service kafka; then
  if kafka_up; then
    state=up
  elif kafka_alive; then
    state=starting
    rc=1
  else
    state=down
    rc=1
  fi
  version="$(kafka_version_in_use)"
  row kafka "$state" "$(kafka_pid || true)" "$KAFKA_ADDR" "$KAFKA_LOG${version:+ (Kafka $version)}"
  if [[ "$state" == up ]] && ! port_open "$HOST" "$KAFKA_SASL_PORT"; then
    echo "       (no SASL_SSL listener on $KAFKA_SASL_ADDR: started by an older up.sh; run down.sh, then up.sh)"
    rc=1
  fi
  [[ -n "$(kafka_pid)" && "$state" == down ]] && echo "       (stale pid file $KAFKA_PID_FILE)"
fi

if want_service redis; then
  if redis_up; then
    state=up
  elif redis_alive; then
    state=starting
    rc=1
  else
    state=down
    rc=1
  fi
  row redis "$state" "$(redis_pid || true)" "$REDIS_ADDR" "$REDIS_LOG"
  if [[ "$state" == up ]]; then
    # The same server's TLS port (up.sh opens it, also on a server an older
    # up.sh started).
    if [[ "$(redis_config_at "$REDIS_PORT" tls-port)" == "$REDIS_TLS_PORT" ]] && port_open "$HOST" "$REDIS_TLS_PORT"; then
      echo "       tls=$HOST:$REDIS_TLS_PORT (ACL user $REDIS_ADMIN_USER, secured endpoints in $SECURE_ENV_FILE)"
    else
      echo "       tls=$HOST:$REDIS_TLS_PORT not open: run deploy/local/up.sh"
    fi
  fi
  [[ -n "$(redis_pid)" && "$state" == down ]] && echo "       (stale pid file $REDIS_PID_FILE)"
fi

if [[ -f "$ENV_FILE" ]]; then
  echo "env file: $ENV_FILE"
fi
exit "$rc"
