#!/usr/bin/env bash
# make run: start alsobought against the local services, replay the bundled
# Dunnhumby sample through Kafka, print a few related lists and the commands
# to try, then keep serving until Ctrl-C.
#
# The demo keeps its state apart (topic alsobought.demo, group alsobought-demo,
# key prefix demo), so every command it prints names the flags that reach that
# state: a fresh shell has none of this script's environment.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${ALSOBOUGHT_KAFKA_BROKERS:?run make up first (make run does)}"
: "${ALSOBOUGHT_REDIS_ADDRS:?run make up first (make run does)}"
export ALSOBOUGHT_TOPIC="${ALSOBOUGHT_TOPIC:-alsobought.demo}"
export ALSOBOUGHT_GROUP="${ALSOBOUGHT_GROUP:-alsobought-demo}"
export ALSOBOUGHT_REDIS_PREFIX="${ALSOBOUGHT_REDIS_PREFIX:-demo}"
export ALSOBOUGHT_HTTP_ADDR="${ALSOBOUGHT_HTTP_ADDR:-127.0.0.1:8080}"
# console: one readable line per record (plain text: the log is a file).
export ALSOBOUGHT_LOG_FORMAT="${ALSOBOUGHT_LOG_FORMAT:-console}"
RUN_DIR="${ALSOBOUGHT_LOCAL_RUN_DIR:-.run}"
BIN=bin/alsobought
DATA=testdata/dunnhumby/transactions.csv.gz
LOG="$RUN_DIR/alsobought-demo.log"
MARK="$RUN_DIR/demo-replayed-$ALSOBOUGHT_TOPIC"
REDIS_HOST="${ALSOBOUGHT_REDIS_ADDRS%:*}"
REDIS_PORT="${ALSOBOUGHT_REDIS_ADDRS##*:}"

# The flags a printed command needs to reach the demo's state: the key prefix
# (and the topic and group for lag), plus the addresses when they are not the
# built-in defaults (which are the local services' defaults).
STATE_FLAGS="-prefix $ALSOBOUGHT_REDIS_PREFIX"
[[ "$ALSOBOUGHT_REDIS_ADDRS" == 127.0.0.1:16379 ]] || STATE_FLAGS="-redis $ALSOBOUGHT_REDIS_ADDRS $STATE_FLAGS"
GROUP_FLAGS="-topic $ALSOBOUGHT_TOPIC -group $ALSOBOUGHT_GROUP"
[[ "$ALSOBOUGHT_KAFKA_BROKERS" == 127.0.0.1:19092 ]] || GROUP_FLAGS="-brokers $ALSOBOUGHT_KAFKA_BROKERS $GROUP_FLAGS"

mkdir -p "$RUN_DIR"
echo "starting alsobought serve (log: $LOG)" >&2
"$BIN" serve >"$LOG" 2>&1 &
SERVE_PID=$!
trap 'kill "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  curl -fsS "http://$ALSOBOUGHT_HTTP_ADDR/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVE_PID" 2>/dev/null || { echo "alsobought serve exited; see $LOG:" >&2; tail -20 "$LOG" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "http://$ALSOBOUGHT_HTTP_ADDR/healthz" >/dev/null 2>&1 || {
  echo "alsobought serve does not answer on http://$ALSOBOUGHT_HTTP_ADDR/healthz after 20 s; see $LOG:" >&2
  tail -20 "$LOG" >&2
  exit 1
}

if [[ -f "$MARK" ]]; then
  echo "the sample was replayed to $ALSOBOUGHT_TOPIC before; not replaying it again" >&2
  echo "(to start over: make down && rm -rf $RUN_DIR && make run)" >&2
else
  "$BIN" replay --data "$DATA" --format dunnhumby --wait
  touch "$MARK"
fi

echo
echo "The three best-selling items and what their buyers also bought:"
# The buyers counts are sharded (docs/redis-keys.md): read every shard.
TOP="$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --raw --scan --pattern "$ALSOBOUGHT_REDIS_PREFIX:{#*}:buyers" |
  while read -r key; do redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --raw HGETALL "$key"; done |
  paste - - | awk '$1 !~ /^#/' | sort -k2,2nr -k1,1 | awk 'NR <= 3 { print $1 }')"
for item in $TOP; do
  echo
  "$BIN" related -k 5 "$item"
done
ITEM="${TOP%%$'\n'*}"
ITEM="${ITEM:-1082185}"
# Household 431 of the sample: a purchase history of six items, one of them bought again.
CUSTOMER=431
URL="http://$ALSOBOUGHT_HTTP_ADDR"

cat <<MSG

Try (from the repository root, while this runs; $URL/status in a browser shows lag,
throughput, freshness and lookups):
  curl -s '$URL/v1/items/$ITEM/related?k=5'
  curl -s '$URL/v1/customers/$CUSTOMER/recommendations?k=6'
  curl -s '$URL/v1/recommendations?bought=$ITEM&k=3'
  curl -s '$URL/v1/popular?k=5'
  curl -s $URL/readyz
  curl -s $URL/metrics | grep '^alsobought_events_applied_total'
  $BIN related $STATE_FLAGS -k 5 $ITEM
  $BIN lag $GROUP_FLAGS $STATE_FLAGS
alsobought keeps consuming $ALSOBOUGHT_TOPIC (log: $LOG); press Ctrl-C to stop it.
MSG
wait "$SERVE_PID"
