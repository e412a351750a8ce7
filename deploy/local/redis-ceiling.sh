#!/usr/bin/env bash
# redis-ceiling.sh: the physical ceiling `alsobought bench` compares to.
#
# Runs redis-benchmark, with pipelining, against the Redis of the shared
# settings (ALSOBOUGHT_REDIS_ADDRS, or .run/env), for the kind of commands
# the consumer's batches send (store/scripts.go): plain HINCRBY, and an
# EVALSHA of a script shaped like applyOps (read a watermark, HINCRBY a
# number of fields, raise the watermark). For each it prints the requests/s
# redis-benchmark reports and the commands/s Redis counted
# (total_commands_processed, which counts the commands a script calls),
# and turns the latter into an events/s ceiling with the commands per event
# that `alsobought bench` measured:
#
#   deploy/local/redis-ceiling.sh [--cmds-per-event X] [--requests N] [--pipeline P] [--fields F]
#   deploy/local/redis-ceiling.sh --bench-json bench.json      # takes X from `alsobought bench -json`
#
# Its keys live under a fresh prefix, deleted at the end. Other clients of
# the same Redis slow it down and are counted in total_commands_processed:
# run it when the machine is quiet.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
requests=2000000
pipeline=32
clients=50
fields=10
cmds_per_event=""

while [[ $# -gt 0 ]]; do
	case "$1" in
	--cmds-per-event) cmds_per_event=$2; shift 2 ;;
	--bench-json) cmds_per_event=$(jq -r '.redis_cmds_per_event' "$2"); shift 2 ;;
	--requests) requests=$2; shift 2 ;;
	--pipeline) pipeline=$2; shift 2 ;;
	--fields) fields=$2; shift 2 ;;
	-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
	*) echo "redis-ceiling.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

if [[ -z "${ALSOBOUGHT_REDIS_ADDRS:-}" && -f "$here/../../.run/env" ]]; then
	set -a
	# shellcheck disable=SC1091
	. "$here/../../.run/env"
	set +a
fi
addr=${ALSOBOUGHT_REDIS_ADDRS:-127.0.0.1:16379}
host=${addr%:*}
port=${addr##*:}
command -v redis-benchmark >/dev/null || { echo "redis-ceiling.sh: redis-benchmark not found (apt-get install redis-tools)" >&2; exit 1; }

prefix="rceil$$$RANDOM"
cli() { redis-cli -h "$host" -p "$port" "$@"; }
cleanup() { cli --scan --pattern "$prefix:*" | xargs -r -n 500 redis-cli -h "$host" -p "$port" unlink >/dev/null; }
trap cleanup EXIT

# The applyOps shape: HGET the watermark, HINCRBY each field, HSET the watermark.
script="local wm = tonumber(redis.call('HGET', KEYS[1], '#0') or '-1')
for i = 1, #ARGV do redis.call('HINCRBY', KEYS[1], ARGV[i], 1) end
redis.call('HSET', KEYS[1], '#0', wm + 1)
return 1"
sha=$(cli script load "$script")
field_args=()
for ((i = 1; i <= fields; i++)); do field_args+=("f$i"); done

commands() { cli info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" {print $2}'; }

# run NAME ARGS...: one redis-benchmark run; prints a table row.
run() {
	local name=$1
	shift
	local before after start end rps
	before=$(commands)
	start=$(date +%s.%N)
	rps=$(redis-benchmark -h "$host" -p "$port" -P "$pipeline" -c "$clients" -n "$requests" -r 100000 --csv "$@" |
		awk -F'"' 'NR == 2 {print $4}')
	end=$(date +%s.%N)
	after=$(commands)
	awk -v name="$name" -v rps="$rps" -v cmds=$((after - before)) -v secs="$(echo "$end - $start" | bc -l)" -v cpe="$cmds_per_event" 'BEGIN {
		cps = cmds / secs
		ceiling = (cpe > 0) ? sprintf("%.0f", cps / cpe) : "-"
		printf "%-34s %14.0f %16.0f %18s\n", name, rps, cps, ceiling
	}'
}

echo "redis-benchmark against $addr: $requests requests, pipeline $pipeline, $clients clients, keyspace 100000 (redis $(redis-server --version | awk '{print $3}' | sed 's/^v=//'))"
printf "%-34s %14s %16s %18s\n" "command" "requests/s" "Redis cmds/s" "events/s ceiling"
run "HINCRBY" HINCRBY "$prefix:h:__rand_int__" f 1
run "EVALSHA applyOps-like, $fields fields" EVALSHA "$sha" 1 "$prefix:s:__rand_int__" "${field_args[@]}"
if [[ -n "$cmds_per_event" ]]; then
	echo "events/s ceiling = Redis commands/s / $cmds_per_event commands per event (alsobought bench: redis_cmds_per_event)"
else
	echo "pass --cmds-per-event X (or --bench-json FILE) to turn Redis commands/s into an events/s ceiling"
fi
