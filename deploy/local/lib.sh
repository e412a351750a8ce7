# shellcheck shell=bash
# shellcheck disable=SC2034 # variables are used by the scripts that source this file
# Shared helpers of deploy/local/{up,down,status,cluster-up,cluster-down}.sh.
# Sourced, not executed.
#
# Every setting can be overridden from the environment (defaults in brackets):
#   ALSOBOUGHT_LOCAL_RUN_DIR               runtime state            [<repo>/.run]
#   ALSOBOUGHT_LOCAL_CACHE_DIR             downloaded Kafka jars    [<repo>/.cache]
#   ALSOBOUGHT_LOCAL_HOST                  address services bind to [127.0.0.1]
#   ALSOBOUGHT_LOCAL_KAFKA_PORT            Kafka PLAINTEXT listener [19092]
#   ALSOBOUGHT_LOCAL_KAFKA_CONTROLLER_PORT Kafka KRaft controller   [19093]
#   ALSOBOUGHT_LOCAL_KAFKA_SASL_PORT       Kafka SASL_SSL listener  [19094]
#   ALSOBOUGHT_LOCAL_REDIS_PORT            Redis                    [16379]
#   ALSOBOUGHT_LOCAL_REDIS_TLS_PORT        Redis's TLS port         [16380] (same server as the plain port)
#   ALSOBOUGHT_LOCAL_KAFKA_VERSION         one exact version; unset = first of 4.1.2 4.1.1 4.1.0 that resolves
#   ALSOBOUGHT_LOCAL_KAFKA_HEAP            JVM heap options         [-Xms512m -Xmx512m]
#   ALSOBOUGHT_LOCAL_KAFKA_CLUSTER_ID      KRaft cluster id, used when formatting [4L6g3nShT-eMCtK--X86sw]
#   ALSOBOUGHT_LOCAL_KAFKA_TIMEOUT         readiness wait, seconds  [90]
#   ALSOBOUGHT_LOCAL_REDIS_TIMEOUT         readiness wait, seconds  [20]
#   ALSOBOUGHT_LOCAL_JAVA                  java binary              [java]
#   ALSOBOUGHT_LOCAL_SERVICES              services up/down/status handle, "redis", "kafka" or both
#                                          (space- or comma-separated) [redis kafka]

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$LOCAL_DIR/../.." && pwd)"

RUN_DIR="${ALSOBOUGHT_LOCAL_RUN_DIR:-$REPO_ROOT/.run}"
CACHE_DIR="${ALSOBOUGHT_LOCAL_CACHE_DIR:-$REPO_ROOT/.cache}"
HOST="${ALSOBOUGHT_LOCAL_HOST:-127.0.0.1}"
KAFKA_PORT="${ALSOBOUGHT_LOCAL_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${ALSOBOUGHT_LOCAL_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_SASL_PORT="${ALSOBOUGHT_LOCAL_KAFKA_SASL_PORT:-19094}"
REDIS_PORT="${ALSOBOUGHT_LOCAL_REDIS_PORT:-16379}"
REDIS_TLS_PORT="${ALSOBOUGHT_LOCAL_REDIS_TLS_PORT:-16380}"
KAFKA_VERSION_CANDIDATES="${ALSOBOUGHT_LOCAL_KAFKA_VERSION:-4.1.2 4.1.1 4.1.0}"
KAFKA_HEAP="${ALSOBOUGHT_LOCAL_KAFKA_HEAP:--Xms512m -Xmx512m}"
KAFKA_CLUSTER_ID="${ALSOBOUGHT_LOCAL_KAFKA_CLUSTER_ID:-4L6g3nShT-eMCtK--X86sw}"
KAFKA_TIMEOUT="${ALSOBOUGHT_LOCAL_KAFKA_TIMEOUT:-90}"
REDIS_TIMEOUT="${ALSOBOUGHT_LOCAL_REDIS_TIMEOUT:-20}"
JAVA="${ALSOBOUGHT_LOCAL_JAVA:-java}"
SERVICES="${ALSOBOUGHT_LOCAL_SERVICES:-redis kafka}"
SERVICES="${SERVICES//,/ }"

# Relative overrides are taken relative to the repository root.
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$REPO_ROOT/$RUN_DIR" ;; esac
case "$CACHE_DIR" in /*) ;; *) CACHE_DIR="$REPO_ROOT/$CACHE_DIR" ;; esac

KAFKA_RUN_DIR="$RUN_DIR/kafka"
KAFKA_DATA_DIR="$KAFKA_RUN_DIR/data"
KAFKA_LOG_DIR="$KAFKA_RUN_DIR/logs"
KAFKA_LOG="$KAFKA_LOG_DIR/server.log"
KAFKA_PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
KAFKA_CONFIG="$KAFKA_RUN_DIR/server.properties"
KAFKA_LOG4J="$LOCAL_DIR/kafka/log4j2.properties"
KAFKA_POM="$LOCAL_DIR/kafka/pom.xml"
KAFKA_TEMPLATE="$LOCAL_DIR/kafka/server.properties.tmpl"

REDIS_DIR="$RUN_DIR/redis"
# Paths of the redis-server helpers below (DIR/redis.log, DIR/redis.pid).
REDIS_LOG="$REDIS_DIR/redis.log"
REDIS_PID_FILE="$REDIS_DIR/redis.pid"

ENV_FILE="$RUN_DIR/env"
# The secured endpoints, for the tests that use them (secure_env_lines).
SECURE_ENV_FILE="$RUN_DIR/secure-env"
TLS_DIR="$RUN_DIR/tls"
SECRETS_DIR="$RUN_DIR/secrets"

KAFKA_ADDR="$HOST:$KAFKA_PORT"
KAFKA_SASL_ADDR="$HOST:$KAFKA_SASL_PORT"
REDIS_ADDR="$HOST:$REDIS_PORT"

# ---------------------------------------------------------------- messages

log() { printf '[local] %s\n' "$*" >&2; }
die() {
  printf '[local] ERROR: %s\n' "$*" >&2
  exit 1
}

# die_with_log FILE MESSAGE: print the last 30 lines of FILE, then fail.
die_with_log() {
  local file="$1"
  shift
  printf '[local] ERROR: %s\n' "$*" >&2
  if [[ -f "$file" ]]; then
    printf '[local] ---- last 30 lines of %s ----\n' "$file" >&2
    tail -n 30 "$file" >&2 || true
    printf '[local] ---- end of %s ----\n' "$file" >&2
  else
    printf '[local] (log file %s does not exist)\n' "$file" >&2
  fi
  printf '[local] read the full log: %s\n' "$file" >&2
  exit 1
}

# ---------------------------------------------------------------- services

# check_services: fail on a word of ALSOBOUGHT_LOCAL_SERVICES that names no
# service, rather than silently starting nothing.
check_services() {
  local s
  for s in $SERVICES; do
    [[ "$s" == redis || "$s" == kafka ]] ||
      die "ALSOBOUGHT_LOCAL_SERVICES: unknown service '$s' (use redis, kafka or both)"
  done
  [[ -n "${SERVICES// /}" ]] || die "ALSOBOUGHT_LOCAL_SERVICES is empty (use redis, kafka or both)"
}

# want_service NAME: NAME is one of the selected services.
want_service() { [[ " $SERVICES " == *" $1 "* ]]; }

# ---------------------------------------------------------------- processes

# port_open HOST PORT: true when a TCP connection succeeds within 1 s.
port_open() {
  # shellcheck disable=SC2016 # $1/$2 expand in the inner bash
  timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# read_pid FILE: print the pid stored in FILE (empty when missing/garbage).
read_pid() {
  local pid=""
  if [[ -f "$1" ]]; then
    read -r pid <"$1" 2>/dev/null || true
  fi
  [[ "$pid" =~ ^[0-9]+$ ]] && printf '%s' "$pid"
  return 0
}

# pid_alive PID PATTERN: the process exists and its command line matches PATTERN
# (guards against a recycled pid after a reboot or a crash).
pid_alive() {
  local pid="$1" pattern="$2" cmdline
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmdline" == *"$pattern"* ]] || return 1
    # A zombie (exited, not reaped) is not alive.
    [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != "Z" ]] || return 1
  fi
  return 0
}

kafka_pid() { read_pid "$KAFKA_PID_FILE"; }
kafka_alive() { pid_alive "$(kafka_pid)" "kafka.Kafka"; }
kafka_started_logged() { [[ -f "$KAFKA_LOG" ]] && grep -q "Kafka Server started" "$KAFKA_LOG"; }

# "Up" = pid file + live process + port answering (+ the start line for Kafka,
# + PONG for Redis).
kafka_up() { kafka_alive && port_open "$HOST" "$KAFKA_PORT" && kafka_started_logged; }

# ---------------------------------------------------------------- redis-server
# One set of helpers for every redis-server these scripts run: the Redis of
# up.sh and each node of cluster-up.sh. A server is its port and its directory
# DIR, which holds its pid file (DIR/redis.pid), its log (DIR/redis.log) and its
# data.

redis_pid_at() { read_pid "$1/redis.pid"; }                               # DIR
redis_alive_at() { pid_alive "$(redis_pid_at "$1")" "redis-server"; }     # DIR
redis_ping_at() { [[ "$(redis-cli -h "$HOST" -p "$1" ping 2>/dev/null)" == "PONG" ]]; } # PORT
redis_up_at() { redis_alive_at "$2" && port_open "$HOST" "$1" && redis_ping_at "$1"; } # PORT DIR

# wait_redis_at PORT DIR: return once the server answers PING; fail with the
# end of its log when it exits or does not answer within REDIS_TIMEOUT.
wait_redis_at() {
  local port="$1" dir="$2" deadline=$((SECONDS + REDIS_TIMEOUT))
  while ((SECONDS < deadline)); do
    redis_up_at "$port" "$dir" && return 0
    # Daemonized: the pid file appears shortly after the parent exits, and
    # is empty for a moment while the server writes it (fopen, then
    # fprintf): only a pid that names no live server means it exited.
    if [[ -n "$(redis_pid_at "$dir")" ]] && ! redis_alive_at "$dir"; then
      die_with_log "$dir/redis.log" "redis-server on $HOST:$port exited during start-up"
    fi
    sleep 0.1
  done
  die_with_log "$dir/redis.log" "redis-server not ready (no PONG on $HOST:$port) within ${REDIS_TIMEOUT}s"
}

# start_redis_at PORT DIR DOWN_SCRIPT PORT_VARIABLE [OPTION...]: start a
# daemonized redis-server on $HOST:PORT in DIR with the given options, unless it
# is up already; return once it answers PING. DOWN_SCRIPT is the script that
# stops it (named when a server of DIR runs on another port), PORT_VARIABLE the
# setting that moves it (named when the port is taken). A cluster node
# (--cluster-enabled yes) needs its bus port, PORT + 10000, free as well.
# REDIS_CONF, when set, is a configuration file the server reads first (a
# sentinel needs one it can rewrite: REDIS_CONF=FILE start_redis_at ... --sentinel).
start_redis_at() {
  local port="$1" dir="$2" down="$3" port_var="$4" pid p ports
  shift 4
  redis_up_at "$port" "$dir" && return 0
  if redis_alive_at "$dir"; then
    pid="$(redis_pid_at "$dir")"
    if [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" != *":$port"* ]]; then
      die "redis-server (pid $pid, pid file $dir/redis.pid) is running but not on $HOST:$port (started with other settings?): run deploy/local/$down first"
    fi
    log "redis-server on $HOST:$port (pid $pid) is alive but not answering yet: waiting"
    wait_redis_at "$port" "$dir"
    return 0
  fi
  rm -f "$dir/redis.pid"
  ports="$port"
  [[ " $* " == *" --cluster-enabled yes "* ]] && ports+=" $((port + 10000))"
  # The TLS port, when the options open one, must be free as well.
  local prev=""
  for p in "$@"; do
    [[ "$prev" == --tls-port ]] && ports+=" $p"
    prev="$p"
  done
  for p in $ports; do
    if port_open "$HOST" "$p"; then
      die "port $HOST:$p is taken by a process this script did not start (no live pid in $dir/redis.pid); stop it or set $port_var"
    fi
  done
  mkdir -p "$dir"
  log "starting redis-server on $HOST:$port (dir $dir)"
  redis-server ${REDIS_CONF:+"$REDIS_CONF"} \
    --bind "$HOST" --port "$port" \
    --daemonize yes --pidfile "$dir/redis.pid" \
    --dir "$dir" --logfile "$dir/redis.log" \
    "$@" \
    </dev/null >&2 9>&- ||
    die_with_log "$dir/redis.log" "redis-server on $HOST:$port failed to start"
  wait_redis_at "$port" "$dir"
}

# ---------------------------------------------------------------- redis security
# Each redis-server of these scripts also opens a TLS port and carries an
# ACL user with every permission, REDIS_ADMIN_USER (password: `secret
# redis-admin`). The default user stays on without a password, so the plain
# tests need nothing; the tests of the secured endpoints create, as the
# admin, a least-privilege user of their own (internal/testenv) and delete
# it afterwards.

REDIS_ADMIN_USER=alsobought-admin

# redis_tls_options: the options of a TLS port's certificates (the port is
# the caller's), one a line. A client may present a certificate, which must
# then be signed by the local CA, but need not (tls-auth-clients optional):
# the tests try both, and a certificate from another CA.
redis_tls_options() {
  printf '%s\n' --tls-cert-file "$TLS_DIR/server.crt" --tls-key-file "$TLS_DIR/server.key" \
    --tls-ca-cert-file "$TLS_DIR/ca.crt" --tls-auth-clients optional
}

# redis_config_at PORT NAME: a setting of the server at PORT (CONFIG GET).
redis_config_at() {
  redis-cli -h "$HOST" -p "$1" config get "$2" 2>/dev/null | tr -d '\r' | sed -n 2p
}

# ensure_redis_admin_at PORT: create or update the admin user of the server
# at PORT. ACL users live in the server's memory alone (no aclfile; a Redis
# Cluster does not replicate them either), so this runs after every start,
# on every node. The password reaches redis-cli on its standard input (-x
# appends it as the last argument), never on a command line a process
# listing shows.
ensure_redis_admin_at() {
  local port="$1" out
  out="$(printf '>%s' "$(secret redis-admin)" |
    redis-cli -h "$HOST" -p "$port" -x ACL SETUSER "$REDIS_ADMIN_USER" reset on '~*' '&*' +@all 2>&1 | tr -d '\r')" || true
  [[ "$out" == OK ]] || die "redis-server on $HOST:$port: ACL SETUSER $REDIS_ADMIN_USER failed: $out"
}

# The Redis of up.sh, down.sh and status.sh.
redis_pid() { redis_pid_at "$REDIS_DIR"; }
redis_alive() { redis_alive_at "$REDIS_DIR"; }
redis_up() { redis_up_at "$REDIS_PORT" "$REDIS_DIR"; }

# stop_pid NAME PID PATTERN TIMEOUT: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local name="$1" pid="$2" pattern="$3" timeout_s="$4" waited=0
  pid_alive "$pid" "$pattern" || return 0
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  while pid_alive "$pid" "$pattern"; do
    if ((waited >= timeout_s * 10)); then
      log "$name (pid $pid) did not stop within ${timeout_s}s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
}

# reset_flag ARG...: the arguments of a *-down.sh script: none, or --reset.
# Prints 1 for --reset, 0 for none; any other argument is a usage error.
reset_flag() {
  case "$#:${1:-}" in
  0:) echo 0 ;;
  1:--reset) echo 1 ;;
  *)
    echo "usage: $0 [--reset]" >&2
    exit 2
    ;;
  esac
}

# warn_foreign_ports DIR SCRIPT: a stopped set of redis-servers keeps one
# directory per port under DIR; warn about each port that still answers, a
# process SCRIPT did not start.
warn_foreign_ports() {
  local dir port
  for dir in "$1"/*/; do
    port="$(basename "$dir")"
    [[ "$port" =~ ^[0-9]+$ ]] || continue
    if port_open "$HOST" "$port"; then
      log "warning: $HOST:$port still answers (a process not started by deploy/local/$2?)"
    fi
  done
}

# ---------------------------------------------------------------- env lines

# Only the selected services: a run dir with a lone Redis names no broker.
# up.sh prints these and merges them into the env file (merge_env_file).
env_lines() {
  if want_service kafka; then
    printf 'ALSOBOUGHT_KAFKA_BROKERS=%s\n' "$KAFKA_ADDR"
  fi
  if want_service redis; then
    printf 'ALSOBOUGHT_REDIS_ADDRS=%s\n' "$REDIS_ADDR"
  fi
}

# merge_env_file FILE LINES: merge what the function LINES prints into FILE.
# Each line replaces the line of the same variable; every other line stays,
# so that starting one service keeps the other's setting: rewriting the file
# with the Redis line alone would make a command that loads it fall back to
# the default broker, on a shared machine somebody else's (issue 15).
# up.sh and cluster-up.sh both merge into the secure-env file, each under
# its own lock: FILE.lock makes their merges take turns.
merge_env_file() {
  local file="$1" lines="$2" tmp="$1.tmp.$$"
  (
    flock -w 60 8 || die "another script holds $file.lock"
    {
      if [[ -f "$file" ]]; then
        # The variables LINES sets come first on awk's input, then the file.
        awk -F= 'NR == FNR { set[$1] = 1; next } !($1 in set)' <("$lines") "$file"
      fi
      "$lines"
    } >"$tmp"
    mv "$tmp" "$file"
  ) 8>"$file.lock"
}

# drop_env_lines FILE NAME...: remove the lines of the variables NAME from FILE.
drop_env_lines() {
  local file="$1" tmp="$1.tmp.$$"
  shift
  [[ -f "$file" ]] || return 0
  (
    flock -w 60 8 || die "another script holds $file.lock"
    awk -F= -v names=" $* " 'index(names, " " $1 " ") == 0' "$file" >"$tmp"
    mv "$tmp" "$file"
  ) 8>"$file.lock"
}

# ---------------------------------------------------------------- secured endpoints
# Next to its plain listener, each local service has a secured one, so that
# make test proves the product against TLS, SASL and ACLs without another
# process: Kafka a SASL_SSL listener, Redis a tls-port. They share one local
# CA and one set of generated passwords, both under the run directory (never
# committed, never printed).

# ensure_tls_material: a CA, a server certificate for $HOST and localhost
# (Kafka's SASL_SSL listener and Redis's tls-port), a client certificate,
# and other-ca.crt, a CA that signed nothing (the untrusted-certificate
# tests). Made once; openssl is installed when missing.
ensure_tls_material() {
  [[ -f "$TLS_DIR/.complete" ]] && return 0
  command -v openssl >/dev/null 2>&1 || apt_install openssl
  local tmp="$TLS_DIR.tmp.$$" san="subjectAltName=DNS:localhost,IP:127.0.0.1"
  [[ "$HOST" == 127.0.0.1 ]] || san+=",IP:$HOST"
  log "making a local CA and certificates in $TLS_DIR (once)"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  (
    cd "$tmp"
    # Keys are unencrypted PKCS#8, the PEM form Kafka's keystore reads.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=alsobought local CA" -keyout ca.key -out ca.crt
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -subj "/CN=some other CA" -keyout other-ca.key -out other-ca.crt
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout server.key -out server.csr
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile <(printf '%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san") -out server.crt
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=alsobought" \
      -keyout client.key -out client.csr
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile <(printf 'extendedKeyUsage=clientAuth\n') -out client.crt
    # Kafka's PEM keystore: the key and its certificate chain in one file.
    cat server.key server.crt >server.pem
    rm -f ./*.csr ./*.srl other-ca.key
    chmod 600 ./*.key server.pem
  ) >"$tmp.log" 2>&1 || die_with_log "$tmp.log" "openssl failed to make the local certificates"
  rm -f "$tmp.log"
  touch "$tmp/.complete"
  rm -rf "$TLS_DIR"
  mv "$tmp" "$TLS_DIR"
}

# secret NAME: print the password stored in SECRETS_DIR/NAME.password,
# generating a random one the first time.
secret() {
  local f="$SECRETS_DIR/$1.password"
  if [[ ! -s "$f" ]]; then
    mkdir -p "$SECRETS_DIR"
    chmod 700 "$SECRETS_DIR"
    (umask 077 && openssl rand -hex 16 >"$f.tmp.$$" && mv "$f.tmp.$$" "$f")
  fi
  tr -d '\n' <"$f"
}

# The Kafka users of the SASL_SSL listener: admin is a super user (the
# tests' set-up grants ACLs with it), alsobought gets only the ACLs a test
# grants, stranger never gets any.
KAFKA_SASL_USERS="admin alsobought stranger"

# secure_env_lines: what the tests need to reach the secured endpoints of
# the selected services (paths absolute, passwords as files).
secure_env_lines() {
  printf 'ALSOBOUGHT_TEST_TLS_DIR=%s\n' "$TLS_DIR"
  printf 'ALSOBOUGHT_TEST_SECRETS_DIR=%s\n' "$SECRETS_DIR"
  if want_service kafka; then
    printf 'ALSOBOUGHT_TEST_KAFKA_SASL_SSL_BROKERS=%s\n' "$KAFKA_SASL_ADDR"
  fi
  if want_service redis; then
    printf 'ALSOBOUGHT_TEST_REDIS_TLS_ADDRS=%s\n' "$HOST:$REDIS_TLS_PORT"
  fi
}

# ---------------------------------------------------------------- redis cluster
# deploy/local/cluster-{up,down}.sh: a Redis Cluster of three masters with one
# replica each, on six consecutive loopback ports. Overrides (defaults in brackets):
#   ALSOBOUGHT_LOCAL_CLUSTER_PORT                first node's port; nodes use PORT..PORT+5,
#                                                cluster bus ports +10000    [17001]
#   ALSOBOUGHT_LOCAL_CLUSTER_NODE_TIMEOUT        cluster-node-timeout, ms    [5000]
#   ALSOBOUGHT_LOCAL_CLUSTER_APPENDFSYNC         always or everysec          [always]
#   ALSOBOUGHT_LOCAL_CLUSTER_MIN_REPLICAS        min-replicas-to-write       [1]
#   ALSOBOUGHT_LOCAL_CLUSTER_TIMEOUT             readiness wait, seconds     [30]
#   ALSOBOUGHT_LOCAL_CLUSTER_TLS_PORT            first node's TLS port; nodes use
#                                                TLS_PORT..TLS_PORT+5        [17101]

CLUSTER_PORT="${ALSOBOUGHT_LOCAL_CLUSTER_PORT:-17001}"
CLUSTER_NODE_TIMEOUT="${ALSOBOUGHT_LOCAL_CLUSTER_NODE_TIMEOUT:-5000}"
CLUSTER_APPENDFSYNC="${ALSOBOUGHT_LOCAL_CLUSTER_APPENDFSYNC:-always}"
CLUSTER_MIN_REPLICAS="${ALSOBOUGHT_LOCAL_CLUSTER_MIN_REPLICAS:-1}"
CLUSTER_TIMEOUT="${ALSOBOUGHT_LOCAL_CLUSTER_TIMEOUT:-30}"
CLUSTER_TLS_PORT="${ALSOBOUGHT_LOCAL_CLUSTER_TLS_PORT:-17101}"
CLUSTER_MASTERS=3
CLUSTER_NODES=$((CLUSTER_MASTERS * 2))

CLUSTER_DIR="$RUN_DIR/redis-cluster"
CLUSTER_ENV_FILE="$RUN_DIR/cluster-env"

# cluster_ports: the nodes' ports, one per line.
cluster_ports() {
  local i
  for ((i = 0; i < CLUSTER_NODES; i++)); do
    printf '%s\n' $((CLUSTER_PORT + i))
  done
}

# cluster_node_dir PORT: data, AOF, nodes.conf, log and pid file of one node.
cluster_node_dir() { printf '%s/%s' "$CLUSTER_DIR" "$1"; }
cluster_node_up() { redis_up_at "$1" "$(cluster_node_dir "$1")"; }

# cluster_info_field PORT FIELD: one field of CLUSTER INFO (empty when the node does not answer).
cluster_info_field() {
  redis-cli -h "$HOST" -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

cluster_addrs() {
  local p out=""
  for p in $(cluster_ports); do
    out+="${out:+,}$HOST:$p"
  done
  printf '%s' "$out"
}

cluster_env_lines() { printf 'ALSOBOUGHT_REDIS_CLUSTER_ADDRS=%s\n' "$(cluster_addrs)"; }

# cluster_tls_port PORT: the TLS port of the node on PORT.
cluster_tls_port() { printf '%s' $(($1 - CLUSTER_PORT + CLUSTER_TLS_PORT)); }

cluster_tls_addrs() {
  local p out=""
  for p in $(cluster_ports); do
    out+="${out:+,}$HOST:$(cluster_tls_port "$p")"
  done
  printf '%s' "$out"
}

# cluster_secure_env_lines: the cluster's line of the secure-env file (with
# the TLS and secrets directories, for a run dir where up.sh never ran).
cluster_secure_env_lines() {
  printf 'ALSOBOUGHT_TEST_TLS_DIR=%s\n' "$TLS_DIR"
  printf 'ALSOBOUGHT_TEST_SECRETS_DIR=%s\n' "$SECRETS_DIR"
  printf 'ALSOBOUGHT_TEST_REDIS_CLUSTER_TLS_ADDRS=%s\n' "$(cluster_tls_addrs)"
}

# ---------------------------------------------------------------- redis sentinel
# deploy/local/sentinel-{up,down}.sh: one master, one replica and one sentinel
# watching them, on three consecutive loopback ports. Which data node is the
# master is the sentinel's business: after a failover the roles stay swapped.
# Overrides (defaults in brackets):
#   ALSOBOUGHT_LOCAL_SENTINEL_PORT     first port: data nodes PORT and PORT+1,
#                                      the sentinel PORT+2                   [16390]
#   ALSOBOUGHT_LOCAL_SENTINEL_MASTER   the master's name at the sentinel      [alsobought]
#   ALSOBOUGHT_LOCAL_SENTINEL_TIMEOUT  readiness wait, seconds               [30]

SENTINEL_PORT="${ALSOBOUGHT_LOCAL_SENTINEL_PORT:-16390}"
SENTINEL_MASTER="${ALSOBOUGHT_LOCAL_SENTINEL_MASTER:-alsobought}"
SENTINEL_TIMEOUT="${ALSOBOUGHT_LOCAL_SENTINEL_TIMEOUT:-30}"

SENTINEL_DIR="$RUN_DIR/redis-sentinel"
SENTINEL_ENV_FILE="$RUN_DIR/sentinel-env"

# sentinel_data_ports: the two data nodes' ports, one per line.
sentinel_data_ports() { printf '%s\n%s\n' "$SENTINEL_PORT" $((SENTINEL_PORT + 1)); }
sentinel_port() { printf '%s' $((SENTINEL_PORT + 2)); }

# sentinel_node_dir PORT: data (AOF), log and pid file of a data node, or the
# sentinel's sentinel.conf, log and pid file.
sentinel_node_dir() { printf '%s/%s' "$SENTINEL_DIR" "$1"; }
sentinel_conf() { printf '%s/sentinel.conf' "$(sentinel_node_dir "$(sentinel_port)")"; }

sentinel_env_lines() {
  printf 'ALSOBOUGHT_REDIS_SENTINEL_ADDRS=%s:%s\n' "$HOST" "$(sentinel_port)"
  printf 'ALSOBOUGHT_REDIS_SENTINEL_MASTER=%s\n' "$SENTINEL_MASTER"
}
