#!/usr/bin/env bash
# Start a local Redis with Sentinel for tests, idempotently: two Debian
# redis-server data nodes on loopback (ports 16390 and 16391 by default), one a
# replica of the other, and one sentinel (16392) that watches them under the
# name "alsobought" (quorum 1) and fails over on its own when the master stops
# answering for 2 s. Progress goes to stderr; the settings go to stdout (and to
# <run dir>/sentinel-env), so this works:
#
#   eval "$(deploy/local/sentinel-up.sh)"
#   alsobought serve -redis-mode sentinel -redis "$ALSOBOUGHT_REDIS_SENTINEL_ADDRS"
#
# Ready means: the sentinel names one of the two data nodes as the master, that
# node is a master with a connected replica, the other is its replica with the
# link up, and the sentinel sees the master up with one replica and no failover
# in progress.
#
# Which node is the master is the sentinel's: after a failover (SENTINEL
# FAILOVER, or a master that died) the roles stay swapped. Running this again
# starts only what is down; a data node is started as the master when it is
# the one the sentinel names (the running sentinel, or its sentinel.conf, which
# it rewrites at each failover), else as that master's replica.
#
# State: <run dir>/redis-sentinel/<port>/ (appendonlydir/ or sentinel.conf,
# redis.log, redis.pid). Stop with deploy/local/sentinel-down.sh. See
# deploy/local/README.md and the end of deploy/local/lib.sh for overrides.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=deploy/local/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

check_settings() {
  if ! [[ "$SENTINEL_PORT" =~ ^[0-9]+$ ]] || ((SENTINEL_PORT < 1 || SENTINEL_PORT + 2 > 65535)); then
    die "ALSOBOUGHT_LOCAL_SENTINEL_PORT=$SENTINEL_PORT: need a port from 1 to 65533 (the nodes use PORT..PORT+2)"
  fi
  [[ "$SENTINEL_MASTER" =~ ^[A-Za-z0-9._-]+$ ]] ||
    die "ALSOBOUGHT_LOCAL_SENTINEL_MASTER=$SENTINEL_MASTER: use letters, digits, '.', '_' and '-'"
  [[ "$SENTINEL_TIMEOUT" =~ ^[0-9]+$ ]] || die "ALSOBOUGHT_LOCAL_SENTINEL_TIMEOUT=$SENTINEL_TIMEOUT: need seconds"
}

# field TEXT NAME: the value of NAME: in an INFO reply.
field() { tr -d '\r' <<<"$1" | sed -n "s/^$2://p"; }

# sentinel_says: the master's port as the running sentinel names it (empty
# when it does not answer).
sentinel_says() {
  redis-cli -h "$HOST" -p "$(sentinel_port)" sentinel get-master-addr-by-name "$SENTINEL_MASTER" 2>/dev/null |
    tr -d '\r' | sed -n 2p
}

# master_port: the data node that is the master, by the running sentinel,
# else by the sentinel's configuration file (a stopped sentinel's last word),
# else the first data node (a new setup).
master_port() {
  local port conf
  port="$(sentinel_says)"
  conf="$(sentinel_conf)"
  if [[ -z "$port" && -f "$conf" ]]; then
    port="$(awk -v n="$SENTINEL_MASTER" '$1 == "sentinel" && $2 == "monitor" && $3 == n { print $5 }' "$conf")"
  fi
  port="${port:-$SENTINEL_PORT}"
  # A here-string, not a pipe: under pipefail, grep -q's early exit can kill
  # the writer of the second line with SIGPIPE and fail a match.
  grep -qx "$port" <<<"$(sentinel_data_ports)" ||
    die "the sentinel's master is on port $port, not one of this setup's data nodes ($(sentinel_data_ports | paste -sd,)): ports changed? reset with deploy/local/sentinel-down.sh --reset"
  printf '%s' "$port"
}

# start_data_node PORT [--replicaof HOST PORT]: start one data node unless it
# is up. appendonly with everysec fsync as up.sh's Redis (docs/guarantees.md,
# "Redis with Sentinel"); min-replicas-to-write 1, so a master cut off from its
# replica refuses writes instead of taking writes a failover would drop.
start_data_node() {
  local port="$1"
  shift
  start_redis_at "$port" "$(sentinel_node_dir "$port")" sentinel-down.sh ALSOBOUGHT_LOCAL_SENTINEL_PORT \
    --appendonly yes --appendfsync everysec --save "" --hash-max-listpack-entries 128 \
    --min-replicas-to-write 1 \
    --maxmemory-policy noeviction "$@"
}

# start_sentinel MASTER_PORT: start the sentinel unless it is up. Its
# configuration is written once, naming the first master; from then on the
# sentinel rewrites it (failovers, the replicas it learnt of).
start_sentinel() {
  local master="$1" port conf
  port="$(sentinel_port)"
  conf="$(sentinel_conf)"
  mkdir -p "$(dirname "$conf")"
  if [[ ! -f "$conf" ]]; then
    cat >"$conf" <<EOF
sentinel monitor $SENTINEL_MASTER $HOST $master 1
sentinel down-after-milliseconds $SENTINEL_MASTER 2000
sentinel failover-timeout $SENTINEL_MASTER 10000
sentinel parallel-syncs $SENTINEL_MASTER 1
EOF
  fi
  REDIS_CONF="$conf" start_redis_at "$port" "$(sentinel_node_dir "$port")" sentinel-down.sh ALSOBOUGHT_LOCAL_SENTINEL_PORT --sentinel
}

# all_up: every process runs from its pid file here and answers PING.
all_up() {
  local p
  for p in $(sentinel_data_ports) "$(sentinel_port)"; do
    redis_up_at "$p" "$(sentinel_node_dir "$p")" || return 1
  done
}

# sentinel_problem: print why the setup is not healthy yet (nothing when it is).
sentinel_problem() {
  local master p info v
  master="$(sentinel_says)"
  [[ -n "$master" ]] || {
    echo "the sentinel on $(sentinel_port) names no master $SENTINEL_MASTER"
    return
  }
  for p in $(sentinel_data_ports); do
    info="$(redis-cli -h "$HOST" -p "$p" info replication 2>/dev/null)" || true
    [[ -n "$info" ]] || {
      echo "data node $p does not answer"
      return
    }
    if [[ "$p" == "$master" ]]; then
      v="$(field "$info" role)"
      [[ "$v" == master ]] || {
        echo "the sentinel names $p the master, but it is a $v"
        return
      }
      v="$(field "$info" connected_slaves)"
      [[ "${v:-0}" -ge 1 ]] || {
        echo "master $p has no connected replica"
        return
      }
    else
      v="$(field "$info" master_port)"
      [[ "$(field "$info" role)" == slave && "$v" == "$master" ]] || {
        echo "data node $p is not yet a replica of $master"
        return
      }
      v="$(field "$info" master_link_status)"
      [[ "$v" == up ]] || {
        echo "replica $p: master_link_status:$v"
        return
      }
    fi
  done
  info="$(redis-cli -h "$HOST" -p "$(sentinel_port)" sentinel master "$SENTINEL_MASTER" 2>/dev/null | tr -d '\r' | paste - -)" || true
  v="$(awk '$1 == "flags" { print $2 }' <<<"$info")"
  [[ "$v" == master ]] || {
    echo "the sentinel's flags for $SENTINEL_MASTER: $v"
    return
  }
  v="$(awk '$1 == "num-slaves" { print $2 }' <<<"$info")"
  [[ "${v:-0}" -ge 1 ]] || echo "the sentinel knows no replica of $SENTINEL_MASTER yet"
}

wait_healthy() {
  local deadline=$((SECONDS + SENTINEL_TIMEOUT)) problem
  while ((SECONDS < deadline)); do
    problem="$(sentinel_problem)"
    [[ -n "$problem" ]] || return 0
    sleep 0.2
  done
  die "redis sentinel setup not healthy within ${SENTINEL_TIMEOUT}s: $problem (logs: $SENTINEL_DIR/<port>/redis.log; set ALSOBOUGHT_LOCAL_SENTINEL_TIMEOUT to wait longer)"
}

main() {
  local t0=$SECONDS p master
  check_settings
  mkdir -p "$SENTINEL_DIR"
  # One sentinel-up/sentinel-down at a time, on a lock of its own.
  exec 9>"$SENTINEL_DIR/.lock"
  flock -w 600 9 || die "another sentinel-up/sentinel-down holds $SENTINEL_DIR/.lock"

  ensure_redis_installed
  if all_up && [[ -z "$(sentinel_problem)" ]]; then
    log "redis sentinel already up: master $SENTINEL_MASTER on $HOST:$(sentinel_says), sentinel $HOST:$(sentinel_port)"
  else
    master="$(master_port)"
    for p in $(sentinel_data_ports); do
      if [[ "$p" == "$master" ]]; then
        start_data_node "$p"
      else
        start_data_node "$p" --replicaof "$HOST" "$master"
      fi
    done
    start_sentinel "$master"
    wait_healthy
    log "redis sentinel up in $((SECONDS - t0))s: master $SENTINEL_MASTER on $HOST:$(sentinel_says), sentinel $HOST:$(sentinel_port)"
  fi

  sentinel_env_lines >"$SENTINEL_ENV_FILE.tmp"
  mv "$SENTINEL_ENV_FILE.tmp" "$SENTINEL_ENV_FILE"
  log "settings written to $SENTINEL_ENV_FILE"
  sentinel_env_lines
}

main "$@"
