#!/usr/bin/env bash
# Start the local Kafka broker (KRaft, single node, jars from Maven Central) and
# redis-server, idempotently (only one of them with ALSOBOUGHT_LOCAL_SERVICES=kafka
# or =redis). Progress goes to stderr; the started services' settings go to
# stdout and into <run dir>/env (which keeps the other service's line), so this
# works:
#
#   eval "$(deploy/local/up.sh)"
#
# See deploy/local/README.md and the top of deploy/local/lib.sh for overrides.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- tools

# shellcheck source=deploy/local/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"


ensure_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "java not found (Kafka 4.x needs Java 17+): apt-get install openjdk-17-jre-headless"
}

# ---------------------------------------------------------------- kafka jars

# Marker content: the Kafka version and a digest of the POM, so that editing the
# POM (e.g. another logging jar) fetches the jars again.
jar_marker() { printf 'kafka %s pom-sha256 %s\n' "$1" "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"; }

# Sets KAFKA_VERSION and KAFKA_LIB. Uses a cached download when there is one
# (marker file .complete), otherwise asks Maven for each candidate in order.
fetch_kafka_jars() {
  local v lib tmp
  for v in $KAFKA_VERSION_CANDIDATES; do
    lib="$CACHE_DIR/kafka-$v/lib"
    if [[ -f "$lib/.complete" && "$(cat "$lib/.complete")" == "$(jar_marker "$v")" ]]; then
      KAFKA_VERSION="$v"
      KAFKA_LIB="$lib"
      return 0
    fi
  done
  command -v mvn >/dev/null 2>&1 || die "mvn not found: apt-get install maven"
  for v in $KAFKA_VERSION_CANDIDATES; do
    lib="$CACHE_DIR/kafka-$v/lib"
    tmp="$lib.tmp.$$"
    log "downloading Kafka $v jars from Maven Central into $lib (once)"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # mvn prints errors on stdout: keep stdout for the env lines. Maven 3.8
    # emits colour resets even with -B: strip them.
    if mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
      -Dkafka.version="$v" -DincludeScope=runtime \
      -DoutputDirectory="$tmp" 2>&1 9>&- | sed -u $'s/\x1b\\[[0-9;]*m//g' >&2 &&
      compgen -G "$tmp/kafka_2.13-$v.jar" >/dev/null; then
      rm -rf "$lib"
      mv "$tmp" "$lib"
      jar_marker "$v" >"$lib/.complete"
      log "Kafka $v: $(find "$lib" -name '*.jar' | wc -l) jars, $(du -sh "$lib" | cut -f1)"
      KAFKA_VERSION="$v"
      KAFKA_LIB="$lib"
      return 0
    fi
    rm -rf "$tmp"
    rmdir "$CACHE_DIR/kafka-$v" 2>/dev/null || true
    log "Kafka $v did not resolve, trying the next candidate"
  done
  die "could not download any Kafka version of: $KAFKA_VERSION_CANDIDATES (see the mvn output above)"
}

# ---------------------------------------------------------------- redis

start_redis() {
  ensure_tls_material
  if redis_up; then
    log "redis already up: pid $(redis_pid), $REDIS_ADDR"
  else
    local tls_options
    mapfile -t tls_options < <(redis_tls_options)
    # noeviction is Redis's default, stated so that no packaged redis.conf or
    # later default can make it evict: an evicted key is lost state, and
    # serve refuses an evicting policy (docs/guarantees.md).
    # hash-max-listpack-entries 128 (redis.conf's value; the built-in one is
    # 512): a counter row of 128 to 512 fields becomes a hash table, whose
    # HINCRBY does not scan the row: 15% less Redis CPU per Dunnhumby event
    # for 35% more bytes per item (docs/BENCHMARKS.md, issue 19).
    start_redis_at "$REDIS_PORT" "$REDIS_DIR" down.sh "ALSOBOUGHT_LOCAL_REDIS_PORT / ALSOBOUGHT_LOCAL_REDIS_TLS_PORT" \
      --appendonly yes --appendfsync everysec --save "" --maxmemory-policy noeviction \
      --hash-max-listpack-entries 128 \
      --tls-port "$REDIS_TLS_PORT" "${tls_options[@]}"
    log "redis up: pid $(redis_pid), $REDIS_ADDR, log $REDIS_LOG"
  fi
  ensure_redis_tls
  ensure_redis_admin_at "$REDIS_PORT"
  log "redis TLS port $HOST:$REDIS_TLS_PORT, ACL user $REDIS_ADMIN_USER"
}

# ensure_redis_tls: a server that an older up.sh started has no TLS port.
# Redis opens one, and loads its certificates, on CONFIG SET: no restart,
# so the data and the clients of a running server are left alone.
ensure_redis_tls() {
  local current out settings
  current="$(redis_config_at "$REDIS_PORT" tls-port)"
  [[ "$current" == "$REDIS_TLS_PORT" ]] && return 0
  if port_open "$HOST" "$REDIS_TLS_PORT"; then
    die "port $HOST:$REDIS_TLS_PORT is taken by another process: stop it or set ALSOBOUGHT_LOCAL_REDIS_TLS_PORT"
  fi
  log "redis (pid $(redis_pid)) has no TLS port on $HOST:$REDIS_TLS_PORT (tls-port ${current:-?}, started by an older up.sh?): opening it with CONFIG SET"
  # The start-up options without their dashes are the CONFIG SET pairs.
  mapfile -t settings < <(redis_tls_options | sed 's/^--//')
  out="$(redis-cli -h "$HOST" -p "$REDIS_PORT" config set "${settings[@]}" tls-port "$REDIS_TLS_PORT" 2>&1 | tr -d '\r')" || true
  [[ "$out" == OK ]] || die_with_log "$REDIS_LOG" "redis: CONFIG SET of the TLS port $REDIS_TLS_PORT failed: $out"
}

# ---------------------------------------------------------------- kafka

render_kafka_config() {
  local tmp="$KAFKA_CONFIG.tmp.$$" plain_users="" u
  for u in $KAFKA_SASL_USERS; do
    plain_users+="user_$u=\"$(secret "kafka-$u")\" "
  done
  (
    umask 077 # the rendered file holds the PLAIN passwords
    sed -e "s|@KAFKA_HOST@|$HOST|g" \
      -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
      -e "s|@SASL_PORT@|$KAFKA_SASL_PORT|g" \
      -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$KAFKA_DATA_DIR|g" \
      -e "s|@TLS_DIR@|$TLS_DIR|g" \
      -e "s|@PLAIN_USERS@|${plain_users% }|g" \
      "$KAFKA_TEMPLATE" >"$tmp"
  )
  mv "$tmp" "$KAFKA_CONFIG"
}

# scram_args: the StorageTool options that create every SASL user with
# SCRAM-SHA-256 and SCRAM-SHA-512 credentials.
scram_args() {
  local u m
  for u in $KAFKA_SASL_USERS; do
    for m in SCRAM-SHA-256 SCRAM-SHA-512; do
      printf -- '--add-scram\n%s=[name=%s,password=%s]\n' "$m" "$u" "$(secret "kafka-$u")"
    done
  done
}

# The storage of a broker that an older up.sh formatted has no SCRAM users:
# they are added through the plain listener once the broker runs.
KAFKA_SCRAM_MARKER="$KAFKA_DATA_DIR/.alsobought-scram-users"

format_kafka_storage() {
  if [[ -f "$KAFKA_DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local format_log="$KAFKA_LOG_DIR/format.log" args
  mapfile -t args < <(scram_args)
  log "formatting KRaft storage in $KAFKA_DATA_DIR (cluster id $KAFKA_CLUSTER_ID, SCRAM users $KAFKA_SASL_USERS)"
  mkdir -p "$KAFKA_DATA_DIR"
  if ! "$JAVA" -Xmx256m -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="file:$KAFKA_LOG4J" \
    -Dkafka.logs.dir="$KAFKA_LOG_DIR" \
    -cp "$KAFKA_LIB/*" kafka.tools.StorageTool format \
    --ignore-formatted --cluster-id "$KAFKA_CLUSTER_ID" --config "$KAFKA_CONFIG" "${args[@]}" \
    </dev/null >"$format_log" 2>&1 9>&-; then
    die_with_log "$format_log" "kafka storage format failed"
  fi
  printf '%s\n' "$KAFKA_SASL_USERS" >"$KAFKA_SCRAM_MARKER"
}

# add_missing_scram_users: on a storage formatted before the SASL_SSL
# listener existed, create the SCRAM users through the running broker.
add_missing_scram_users() {
  [[ -f "$KAFKA_SCRAM_MARKER" && "$(cat "$KAFKA_SCRAM_MARKER")" == "$KAFKA_SASL_USERS" ]] && return 0
  local u m log_file="$KAFKA_LOG_DIR/scram-users.log"
  log "adding SCRAM users $KAFKA_SASL_USERS to the existing storage"
  ensure_java
  fetch_kafka_jars
  for u in $KAFKA_SASL_USERS; do
    # One mechanism per request: the broker refuses two changes of one
    # user's credentials in a request.
    for m in SCRAM-SHA-256 SCRAM-SHA-512; do
      if ! "$JAVA" -Xmx256m -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="file:$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_LOG_DIR" \
        -cp "$KAFKA_LIB/*" kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_ADDR" \
        --alter --entity-type users --entity-name "$u" --add-config "$m=[password=$(secret "kafka-$u")]" \
        </dev/null >"$log_file" 2>&1 9>&-; then
        die_with_log "$log_file" "could not add the $m credentials of Kafka user $u"
      fi
    done
  done
  printf '%s\n' "$KAFKA_SASL_USERS" >"$KAFKA_SCRAM_MARKER"
}

wait_kafka() {
  local deadline=$((SECONDS + KAFKA_TIMEOUT)) pid
  while ((SECONDS < deadline)); do
    if ! kafka_alive; then
      die_with_log "$KAFKA_LOG" "Kafka (pid $(kafka_pid)) exited during start-up"
    fi
    if kafka_started_logged && port_open "$HOST" "$KAFKA_PORT"; then
      return 0
    fi
    sleep 0.5
  done
  # Do not leave a half-started broker behind: the next `up` starts afresh.
  pid="$(kafka_pid)"
  log "Kafka not ready within ${KAFKA_TIMEOUT}s: stopping pid $pid"
  stop_pid kafka "$pid" "kafka.Kafka" 30
  rm -f "$KAFKA_PID_FILE"
  die_with_log "$KAFKA_LOG" "Kafka not ready on $KAFKA_ADDR within ${KAFKA_TIMEOUT}s (set ALSOBOUGHT_LOCAL_KAFKA_TIMEOUT to wait longer)"
}

start_kafka() {
  ensure_tls_material
  if kafka_up; then
    if ! port_open "$HOST" "$KAFKA_SASL_PORT"; then
      die "Kafka (pid $(kafka_pid)) runs without the SASL_SSL listener on $KAFKA_SASL_ADDR (started by an older up.sh?): run deploy/local/down.sh, then up.sh again"
    fi
    add_missing_scram_users
    log "kafka already up: pid $(kafka_pid), $KAFKA_ADDR (SASL_SSL $KAFKA_SASL_ADDR)"
    return 0
  fi
  if kafka_alive; then
    if kafka_started_logged && ! port_open "$HOST" "$KAFKA_PORT"; then
      die "Kafka (pid $(kafka_pid)) is running but not on $KAFKA_ADDR (started with other settings?): run deploy/local/down.sh first"
    fi
    log "kafka process $(kafka_pid) is alive but not ready yet: waiting"
    wait_kafka
    return 0
  fi
  rm -f "$KAFKA_PID_FILE"
  local p
  for p in "$KAFKA_PORT" "$KAFKA_SASL_PORT" "$KAFKA_CONTROLLER_PORT"; do
    if port_open "$HOST" "$p"; then
      die "port $HOST:$p is taken by a process this script did not start (no live pid in $KAFKA_PID_FILE); stop it or set ALSOBOUGHT_LOCAL_KAFKA_PORT / ALSOBOUGHT_LOCAL_KAFKA_SASL_PORT / ALSOBOUGHT_LOCAL_KAFKA_CONTROLLER_PORT"
    fi
  done

  ensure_java
  fetch_kafka_jars
  mkdir -p "$KAFKA_DATA_DIR" "$KAFKA_LOG_DIR"
  render_kafka_config
  format_kafka_storage

  [[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.1"
  log "starting Kafka $KAFKA_VERSION on $KAFKA_ADDR (controller $HOST:$KAFKA_CONTROLLER_PORT)"
  # shellcheck disable=SC2086,SC2016 # KAFKA_HEAP is a list of JVM options; $$/$0/$@ expand in the inner bash.
  setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
    "$JAVA" $KAFKA_HEAP \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dkafka.logs.dir="$KAFKA_LOG_DIR" \
    -Dlog4j2.configurationFile="file:$KAFKA_LOG4J" \
    -cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_CONFIG" \
    </dev/null >"$KAFKA_LOG" 2>&1 9>&-

  # setsid -f forks: wait for the child to record its pid and exec java.
  local i pid
  for ((i = 0; i < 100; i++)); do
    pid="$(kafka_pid)"
    if [[ -n "$pid" ]]; then
      kafka_alive && break
      kill -0 "$pid" 2>/dev/null || die_with_log "$KAFKA_LOG" "Kafka (pid $pid) exited right after start"
    fi
    sleep 0.1
  done
  kafka_alive || die_with_log "$KAFKA_LOG" "Kafka did not start (no live kafka.Kafka pid in $KAFKA_PID_FILE)"
  wait_kafka
  add_missing_scram_users
  log "kafka up: Kafka $KAFKA_VERSION, pid $(kafka_pid), $KAFKA_ADDR (SASL_SSL $KAFKA_SASL_ADDR), log $KAFKA_LOG"
}

# ---------------------------------------------------------------- main

main() {
  local t0=$SECONDS
  check_services
  mkdir -p "$RUN_DIR"
  # One up/down at a time (fd 9 is closed for the started services).
  exec 9>"$RUN_DIR/.lock"
  flock -w 600 9 || die "another deploy/local up/down holds $RUN_DIR/.lock"

  if want_service redis; then
    ensure_redis_installed
    start_redis
  fi
  if want_service kafka; then
    start_kafka
  fi

  merge_env_file "$ENV_FILE" env_lines
  merge_env_file "$SECURE_ENV_FILE" secure_env_lines
  log "ready in $((SECONDS - t0))s; settings written to $ENV_FILE (secured endpoints: $SECURE_ENV_FILE)"
  env_lines
}

main "$@"
