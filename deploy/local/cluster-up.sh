#!/usr/bin/env bash
# Start a local Redis Cluster for tests, idempotently: six Debian redis-server
# nodes on loopback (three masters with one replica each, ports 17001-17006 by
# default), created once with `redis-cli --cluster create --cluster-replicas 1`.
# Progress goes to stderr; the setting goes to stdout (and to <run dir>/cluster-env),
# so this works:
#
#   eval "$(deploy/local/cluster-up.sh)"
#
# Ready means: every node answers, every node sees cluster_state:ok with all
# 16384 slots ok and all six nodes, three of them masters, each master has a
# connected replica and each replica's link to its master is up.
# Running it again starts only the nodes that are down (they rejoin from their
# nodes.conf and AOF) and waits for the cluster to be healthy again.
#
# State: <run dir>/redis-cluster/<port>/ (nodes.conf, appendonlydir/, redis.log,
# redis.pid). Stop with deploy/local/cluster-down.sh. See deploy/local/README.md
# and the end of deploy/local/lib.sh for overrides.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=deploy/local/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"


check_settings() {
  if ! [[ "$CLUSTER_PORT" =~ ^[0-9]+$ ]] || ((CLUSTER_PORT < 1 || CLUSTER_PORT + CLUSTER_NODES - 1 + 10000 > 65535)); then
    die "ALSOBOUGHT_LOCAL_CLUSTER_PORT=$CLUSTER_PORT: need a port from 1 to $((65535 - 10000 - CLUSTER_NODES + 1)) (the cluster bus uses port+10000)"
  fi
  if ! [[ "$CLUSTER_NODE_TIMEOUT" =~ ^[0-9]+$ ]] || ((CLUSTER_NODE_TIMEOUT == 0)); then
    die "ALSOBOUGHT_LOCAL_CLUSTER_NODE_TIMEOUT=$CLUSTER_NODE_TIMEOUT: need milliseconds > 0"
  fi
  [[ "$CLUSTER_APPENDFSYNC" == always || "$CLUSTER_APPENDFSYNC" == everysec ]] ||
    die "ALSOBOUGHT_LOCAL_CLUSTER_APPENDFSYNC=$CLUSTER_APPENDFSYNC: use always or everysec (docs/guarantees.md)"
  [[ "$CLUSTER_MIN_REPLICAS" =~ ^[01]$ ]] ||
    die "ALSOBOUGHT_LOCAL_CLUSTER_MIN_REPLICAS=$CLUSTER_MIN_REPLICAS: use 1 (docs/guarantees.md) or 0"
  [[ "$CLUSTER_TIMEOUT" =~ ^[0-9]+$ ]] || die "ALSOBOUGHT_LOCAL_CLUSTER_TIMEOUT=$CLUSTER_TIMEOUT: need seconds"
  if ! [[ "$CLUSTER_TLS_PORT" =~ ^[0-9]+$ ]] || ((CLUSTER_TLS_PORT < 1 || CLUSTER_TLS_PORT + CLUSTER_NODES - 1 > 65535)) ||
    ((CLUSTER_TLS_PORT + CLUSTER_NODES > CLUSTER_PORT && CLUSTER_TLS_PORT < CLUSTER_PORT + CLUSTER_NODES)) ||
    ((CLUSTER_TLS_PORT + CLUSTER_NODES > CLUSTER_PORT + 10000 && CLUSTER_TLS_PORT < CLUSTER_PORT + 10000 + CLUSTER_NODES)); then
    die "ALSOBOUGHT_LOCAL_CLUSTER_TLS_PORT=$CLUSTER_TLS_PORT: need $CLUSTER_NODES ports up to 65535 apart from the nodes' ports and bus ports"
  fi
}

# ---------------------------------------------------------------- nodes

# start_node PORT: start one cluster node unless it is up; returns once it answers PING.
#
# TLS: each node also has a TLS port (its plain port stays, for the plain
# tests). Redis 7.0 gives a client the ports of its own kind in CLUSTER
# SLOTS, SHARDS and NODES (a TLS client the TLS ports, a plain client the
# plain ones) only with tls-cluster yes; with tls-cluster no a TLS client
# is sent to the plain ports and cannot follow them (deploy/local/README.md,
# "TLS"). So the cluster bus and replication run over TLS as well; the bus
# keeps its port, PORT + 10000, through cluster-port (with tls-cluster yes
# it would otherwise move to the TLS port + 10000). tls-cluster cannot be
# turned on in a running cluster: main refuses nodes started without it.
start_node() {
  local port="$1" tls_options
  mapfile -t tls_options < <(redis_tls_options)
  # appendfsync always and min-replicas-to-write 1: docs/guarantees.md, "Redis Cluster".
  start_redis_at "$port" "$(cluster_node_dir "$port")" cluster-down.sh \
    "ALSOBOUGHT_LOCAL_CLUSTER_PORT / ALSOBOUGHT_LOCAL_CLUSTER_TLS_PORT" \
    --cluster-enabled yes --cluster-config-file "$(cluster_node_dir "$port")/nodes.conf" \
    --cluster-node-timeout "$CLUSTER_NODE_TIMEOUT" --cluster-port $((port + 10000)) \
    --appendonly yes --appendfsync "$CLUSTER_APPENDFSYNC" --save "" --hash-max-listpack-entries 128 \
    --min-replicas-to-write "$CLUSTER_MIN_REPLICAS" \
    --maxmemory-policy noeviction \
    --tls-port "$(cluster_tls_port "$port")" "${tls_options[@]}" --tls-cluster yes --tls-replication yes
}

# check_running_nodes_tls: every running node has its TLS port and a TLS
# bus. A node that an older cluster-up.sh started has neither, and cannot
# get them while the cluster runs: a node switched alone to a TLS bus loses
# its peers. Starting new nodes next to such nodes would split the cluster
# the same way, so this stops before anything starts.
check_running_nodes_tls() {
  local p old=()
  for p in $(cluster_ports); do
    cluster_node_up "$p" || continue
    if [[ "$(redis_config_at "$p" tls-cluster)" != yes || "$(redis_config_at "$p" tls-port)" != "$(cluster_tls_port "$p")" ]]; then
      old+=("$p")
    fi
  done
  ((${#old[@]} == 0)) ||
    die "nodes ${old[*]} run without TLS on ports $CLUSTER_TLS_PORT.. (started by an older cluster-up.sh?), which a running cluster cannot turn on: run deploy/local/cluster-down.sh, then deploy/local/cluster-up.sh (the cluster and its data are kept)"
}

# ensure_admin_on_every_node: the admin user on each node. A Redis Cluster
# does not propagate ACL users: each node has its own, so a user made on
# the masters alone would be refused by a replica that takes over.
ensure_admin_on_every_node() {
  local p
  for p in $(cluster_ports); do
    ensure_redis_admin_at "$p"
  done
}

# ---------------------------------------------------------------- cluster

# all_nodes_up: every node runs from its pid file here and answers PING.
all_nodes_up() {
  local p
  for p in $(cluster_ports); do
    cluster_node_up "$p" || return 1
  done
}

# cluster_problem: print why the cluster is not healthy yet (nothing when it is).
cluster_problem() {
  local p role masters=0 info v
  for p in $(cluster_ports); do
    info="$(redis-cli -h "$HOST" -p "$p" cluster info 2>/dev/null | tr -d '\r')" || true
    [[ -n "$info" ]] || {
      echo "node $p does not answer"
      return
    }
    v="$(sed -n 's/^cluster_state://p' <<<"$info")"
    [[ "$v" == ok ]] || {
      echo "node $p: cluster_state:$v"
      return
    }
    v="$(sed -n 's/^cluster_slots_ok://p' <<<"$info")"
    [[ "$v" == 16384 ]] || {
      echo "node $p: cluster_slots_ok:$v of 16384"
      return
    }
    v="$(sed -n 's/^cluster_known_nodes://p' <<<"$info")"
    [[ "$v" == "$CLUSTER_NODES" ]] || {
      echo "node $p: cluster_known_nodes:$v of $CLUSTER_NODES"
      return
    }
    info="$(redis-cli -h "$HOST" -p "$p" info replication 2>/dev/null | tr -d '\r')" || true
    role="$(sed -n 's/^role://p' <<<"$info")"
    case "$role" in
    master)
      masters=$((masters + 1))
      v="$(sed -n 's/^connected_slaves://p' <<<"$info")"
      [[ "${v:-0}" -ge 1 ]] || {
        echo "master $p has no connected replica"
        return
      }
      ;;
    slave)
      v="$(sed -n 's/^master_link_status://p' <<<"$info")"
      [[ "$v" == up ]] || {
        echo "replica $p: master_link_status:$v"
        return
      }
      ;;
    *)
      echo "node $p: role '$role'"
      return
      ;;
    esac
  done
  ((masters == CLUSTER_MASTERS)) || echo "$masters masters, want $CLUSTER_MASTERS"
}

# create_cluster_if_new: run `redis-cli --cluster create` when every node is
# new (knows only itself, holds no slots); fail on a mix of new and joined nodes.
create_cluster_if_new() {
  local p fresh=() joined=() known assigned
  for p in $(cluster_ports); do
    known="$(cluster_info_field "$p" cluster_known_nodes)"
    assigned="$(cluster_info_field "$p" cluster_slots_assigned)"
    if [[ "$known" == 1 && "$assigned" == 0 ]]; then
      fresh+=("$p")
    else
      joined+=("$p")
    fi
  done
  ((${#fresh[@]} > 0)) || return 0
  if ((${#joined[@]} > 0)); then
    die "nodes ${fresh[*]} are new but ${joined[*]} already belong to a cluster (a node lost its nodes.conf?): reset with deploy/local/cluster-down.sh --reset"
  fi
  local addrs=()
  for p in $(cluster_ports); do
    addrs+=("$HOST:$p")
  done
  log "creating the cluster: $CLUSTER_MASTERS masters with 1 replica each"
  # Its report goes to stderr: stdout is for the setting. TERM=dumb: no colours.
  TERM=dumb redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >&2 ||
    die "redis-cli --cluster create failed (see above); reset with deploy/local/cluster-down.sh --reset"
}

wait_cluster() {
  local deadline=$((SECONDS + CLUSTER_TIMEOUT)) problem
  while ((SECONDS < deadline)); do
    problem="$(cluster_problem)"
    [[ -n "$problem" ]] || return 0
    sleep 0.2
  done
  redis-cli -h "$HOST" -p "$CLUSTER_PORT" cluster nodes >&2 2>/dev/null || true
  die "cluster not healthy within ${CLUSTER_TIMEOUT}s: $problem (logs: $CLUSTER_DIR/<port>/redis.log; set ALSOBOUGHT_LOCAL_CLUSTER_TIMEOUT to wait longer)"
}

# ---------------------------------------------------------------- main

main() {
  local t0=$SECONDS p
  check_settings
  mkdir -p "$CLUSTER_DIR"
  # One cluster-up/cluster-down at a time; a lock of its own, so the shared
  # Kafka + Redis up/down (<run dir>/.lock) is never held up.
  exec 9>"$CLUSTER_DIR/.lock"
  flock -w 600 9 || die "another cluster-up/cluster-down holds $CLUSTER_DIR/.lock"

  ensure_redis_installed
  ensure_tls_material
  check_running_nodes_tls
  if all_nodes_up && [[ -z "$(cluster_problem)" ]]; then
    log "cluster already up: $(cluster_addrs)"
  else
    for p in $(cluster_ports); do
      start_node "$p"
    done
    create_cluster_if_new
    wait_cluster
    log "cluster up in $((SECONDS - t0))s: $(cluster_addrs) (appendfsync $CLUSTER_APPENDFSYNC, min-replicas-to-write $CLUSTER_MIN_REPLICAS, node timeout ${CLUSTER_NODE_TIMEOUT}ms)"
  fi

  ensure_admin_on_every_node

  cluster_env_lines >"$CLUSTER_ENV_FILE.tmp"
  mv "$CLUSTER_ENV_FILE.tmp" "$CLUSTER_ENV_FILE"
  merge_env_file "$SECURE_ENV_FILE" cluster_secure_env_lines
  log "setting written to $CLUSTER_ENV_FILE (TLS ports $(cluster_tls_addrs), ACL user $REDIS_ADMIN_USER: $SECURE_ENV_FILE)"
  cluster_env_lines
}

main "$@"
