#!/usr/bin/env bash
# audited.sh: the audited endpoints (GET /members/{hash}/history, PATCH /gaps/{id}) and GET
# /gaps/{id} for one or more builds, alternating builds within each round so that a shared
# machine's load falls on all of them alike. PostgreSQL only (it reads pg_stat_database).
#
#   bench/http/audited.sh WORKDIR DB_URL DURATION_S ROUNDS LABEL=BUILD_DIR[@THREADS] ...
#
# WORKDIR holds gaps.txt and members.txt from http_bench_load on DB_URL (run.sh loads them; the
# database may be smaller than run.sh's, e.g. `http_bench_load URL WORKDIR 50000`). Before every
# PATCH run the gaps a previous run assigned are set back to identified with one SQL UPDATE
# (bench only, not audited), so every PATCH is a valid identified -> assigned transition.
# Prints one RESULT line per run with the build label, wrk's figures, and per request the
# server's CPU and the PostgreSQL server's CPU (all its processes: backends, WAL writer,
# checkpointer), in microseconds, the server's context switches (all threads), and the store's group-commit counters over the server's run
# (groups, mean operations per group, groups re-run with savepoints). Environment: STARGAP_HTTP_THREADS (unset: the server's
# default; BUILD_DIR@THREADS sets it for one build), STARGAP_POOL_MAX (unset: the server's
# default), SG_MODES ("gap history patch").
set -euo pipefail
work=$1 db=$2 dur=$3 rounds=$4
shift 4
export STARGAP_RATE_LIMIT_PER_MIN=100000000
export STARGAP_HASH_KEY=${STARGAP_HASH_KEY:-bench-hash-key-not-for-production}
modes=${SG_MODES:-gap history patch}
lua="$(dirname "$0")/bench.lua"
tck=$(getconf CLK_TCK)

# Context switches (voluntary + involuntary) of all threads of a process.
csw() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n + 0}'; }
# CPU ticks (user + system) of a process and of its children processes by parent id.
ticks() { { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || true; } | grep . || echo 0; }
pg_ticks() {
  local pm sum=0 c
  pm=$(psql "$db" -Atc "select pid from pg_stat_activity where backend_type = 'checkpointer'")
  pm=$(awk '{print $4}' "/proc/$pm/stat")
  sum=$(ticks "$pm")
  for c in $(pgrep -P "$pm"); do sum=$((sum + $(ticks "$c"))); done
  echo "$sum"
}

one() { # one LABEL BUILD[@THREADS] MODE
  local label=$1 build=${2%@*} mode=$3 key pid port s0 p0 s1 p1 c0 c1 out reqs grp
  if [ "$2" != "$build" ]; then export STARGAP_HTTP_THREADS=${2##*@}; fi
  if [ "$mode" = patch ]; then
    psql "$db" -qAtc "update gap_analysis set status = 'identified', assigned_date = null where status = 'assigned'"
  fi
  key=$("$build/stargap" --db "$db" keys create --name "audited-$$-$(date +%s%N)" --role writer 2>/dev/null)
  "$build/stargap" --db "$db" --log-level debug serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
  pid=$!
  for _ in $(seq 600); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/serve.out")
  if [ -z "$port" ]; then echo "audited.sh: $label did not start (see $work/serve.log)" >&2; kill -TERM "$pid"; wait "$pid" || true; return; fi
  # warm-up (connections, prepared statements), not counted
  SG_KEY=$key SG_DATA=$work SG_MODE=gap SG_THREADS=2 wrk -t 2 -c 64 -d 1s -s "$lua" "http://127.0.0.1:$port" >/dev/null
  s0=$(ticks "$pid"); p0=$(pg_ticks); c0=$(csw "$pid")
  out=$(SG_KEY=$key SG_DATA=$work SG_MODE=$mode SG_THREADS=2 wrk -t 2 -c 64 -d "${dur}s" --latency --timeout 10s -s "$lua" "http://127.0.0.1:$port" | grep RESULT || true)
  s1=$(ticks "$pid"); p1=$(pg_ticks); c1=$(csw "$pid")
  kill -TERM "$pid"; wait "$pid" || true
  if [ "$2" != "$build" ]; then
    if [ -n "${threads_env+x}" ]; then export STARGAP_HTTP_THREADS=$threads_env; else unset STARGAP_HTTP_THREADS; fi
  fi
  # the store's group-commit counters, logged when it closes (whole server run, warm-up included)
  grp=$(sed -n 's/.*event=group_commit groups=\([0-9]*\) ops=\([0-9]*\) reruns=\([0-9]*\).*/groups=\1 ops_per_group=\2 reruns=\3/p' "$work/serve.log" |
    awk '{split($1,a,"=");split($2,b,"="); if (a[2]>0) printf "groups=%d ops_per_group=%.1f %s", a[2], b[2]/a[2], $3}')
  reqs=$(echo "$out" | sed -n 's/.* requests=\([0-9]*\).*/\1/p')
  if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then echo "audited.sh: $label $mode: no wrk result" >&2; return; fi
  echo "$out" | sed "s/^RESULT/RESULT build=$label/" |
    awk -v r="$reqs" -v s=$((s1 - s0)) -v p=$((p1 - p0)) -v t="$tck" -v c=$((c1 - c0)) \
      -v grp="$grp" '{printf "%s server_cpu_us=%.0f pg_cpu_us=%.0f server_cs=%.1f %s\n", $0, s*1e6/t/r, p*1e6/t/r, c/r, grp}'
}

if [ -n "${STARGAP_HTTP_THREADS+x}" ]; then threads_env=$STARGAP_HTTP_THREADS; fi
for round in $(seq "$rounds"); do
  for mode in $modes; do
    for lb in "$@"; do one "${lb%%=*}" "${lb#*=}" "$mode"; done
  done
done
