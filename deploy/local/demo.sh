#!/usr/bin/env bash
# make run: start alsobought against the local services, replay the bundled
# Dunnhumby sample through Kafka, print a few related lists and the URLs to
# try, then keep serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."

: "${ALSOBOUGHT_KAFKA_BROKERS:?run make up first (make run does)}"
: "${ALSOBOUGHT_REDIS_ADDRS:?run make up first (make run does)}"
export ALSOBOUGHT_TOPIC="${ALSOBOUGHT_TOPIC:-alsobought.demo}"
export ALSOBOUGHT_GROUP="${ALSOBOUGHT_GROUP:-alsobought-demo}"
export ALSOBOUGHT_REDIS_PREFIX="${ALSOBOUGHT_REDIS_PREFIX:-demo}"
export ALSOBOUGHT_HTTP_ADDR="${ALSOBOUGHT_HTTP_ADDR:-127.0.0.1:8080}"
export ALSOBOUGHT_LOG_FORMAT="${ALSOBOUGHT_LOG_FORMAT:-console}"
RUN_DIR="${ALSOBOUGHT_LOCAL_RUN_DIR:-.run}"
BIN=bin/alsobought
DATA=testdata/dunnhumby/transactions.csv.gz
LOG="$RUN_DIR/alsobought-demo.log"
MARK="$RUN_DIR/demo-replayed-$ALSOBOUGHT_TOPIC"
REDIS_HOST="${ALSOBOUGHT_REDIS_ADDRS%:*}"
REDIS_PORT="${ALSOBOUGHT_REDIS_ADDRS##*:}"

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

if [[ -f "$MARK" ]]; then
  echo "the sample was replayed to $ALSOBOUGHT_TOPIC before; not replaying it again" >&2
  echo "(to start over: make down && rm -rf $RUN_DIR && make run)" >&2
else
  "$BIN" replay --data "$DATA" --format dunnhumby --wait
  touch "$MARK"
fi

echo
echo "The three best-selling items and what their buyers also bought:"
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --raw HGETALL "$ALSOBOUGHT_REDIS_PREFIX:{#}:buyers" |
  paste - - | awk '$1 !~ /^#/' | sort -k2,2nr -k1,1 | awk 'NR <= 3' | while read -r item _; do
    echo
    "$BIN" related -k 5 "$item"
  done

cat <<MSG

Try:
  curl 'http://$ALSOBOUGHT_HTTP_ADDR/v1/items/<item>/related?k=5'
  curl http://$ALSOBOUGHT_HTTP_ADDR/readyz
  curl http://$ALSOBOUGHT_HTTP_ADDR/metrics
  $BIN related <item>
alsobought keeps consuming $ALSOBOUGHT_TOPIC; press Ctrl-C to stop it.
MSG
wait "$SERVE_PID"
