#!/usr/bin/env bash
# run.sh: the HTTP benchmark. Loads a database (http_bench_load), starts `stargap serve` on a free
# loopback port with the rate limit lifted, and runs wrk against the four endpoints; then GET
# /gaps/{id} with 64 wrk connections while http_hold keeps 10,000 more keep-alive connections open
# (HOLD line), and once with all 10,000 connections driven by wrk. Prints one RESULT line per run.
#
#   bench/http/run.sh BUILD_DIR DB_URL WORKDIR [DURATION_S]
# DB_URL must name an empty database (sqlite:PATH or postgres://...). WORKDIR receives the key,
# the id files and the server log. STARGAP_HTTP_THREADS and STARGAP_POOL_MAX, when set, size
# the server's thread pool and PostgreSQL pool; unset, the server's defaults apply.
set -euo pipefail
build=$1 db=$2 work=$3 dur=${4:-15}
sg="$build/stargap"
mkdir -p "$work"
export STARGAP_RATE_LIMIT_PER_MIN=100000000
export STARGAP_HASH_KEY=${STARGAP_HASH_KEY:-bench-hash-key-not-for-production}
export STARGAP_HTTP_MAX_CONNECTIONS=12000

if [ ! -s "$work/gaps.txt" ]; then
  "$sg" --db "$db" migrate up >/dev/null
  "$build/bench/http/http_bench_load" "$db" "$work" "${SG_MEMBERS:-100000}"
  # The runs measure the service in its steady state, not the aftermath of the bulk load: on
  # PostgreSQL, what autovacuum would do in the minutes after it (visibility map, statistics) is
  # done now instead of during the first runs. SQLite gets its statistics from the server's
  # start-up maintenance (ANALYZE).
  case "$db" in postgres*) psql -X -q "$db" -c "VACUUM ANALYZE" ;; esac
fi
key=$("$sg" --db "$db" keys create --name "bench-$$" --role writer 2>/dev/null)

ulimit -n 20000 || true
"$sg" --db "$db" --log-level warn serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.out")
url="http://127.0.0.1:$port"
lua="$(dirname "$0")/bench.lua"
export SG_KEY=$key SG_DATA=$work

run() { # run MODE THREADS CONNECTIONS DURATION
  SG_MODE=$1 SG_THREADS=$2 wrk -t "$2" -c "$3" -d "$4"s --latency --timeout 10s -s "$lua" "$url" |
    grep RESULT | sed "s/^RESULT/RESULT db=${db%%:*} conns=$3/"
}
hold() { # hold N: N idle keep-alive connections (one request each per 10 s) during a wrk run
  "$build/bench/http/http_hold" 127.0.0.1 "$port" "$1" $((dur + 20)) 10 >"$work/hold.out" 2>"$work/hold.err" &
  hpid=$!
  for _ in $(seq 200); do grep -q "connections open" "$work/hold.err" 2>/dev/null && break; sleep 0.1; done
  cat "$work/hold.err" >&2
  run gap 2 64 "$dur" | sed "s/conns=64/conns=64+$1held/"
  wait $hpid || true
  cat "$work/hold.out"
}
run gap 2 64 "$dur"
run gaps_list 2 64 "$dur"
run history 2 64 "$dur"
hold 10000
run gap 2 10000 "$dur"
run patch 2 64 "$dur"
