#!/bin/sh
# bench/pipeline/run.sh: times the whole `stargap run` (import, train, predict, gaps, stars,
# snapshot) on a generated portfolio. Usage:
#   bench/pipeline/run.sh BUILD_DIR MEMBERS DB_URL [WORKDIR]
# DB_URL is sqlite:PATH or a postgres:// URL of an empty database it may own (e.g. the one the
# tests/pg harness starts). The portfolio has 3 contracts and measurement years 2021-2024; the
# run is for 2024 (star year 2026). Prints the generator's time and the per-stage table of
# `stargap run`, then re-runs it once to time an idempotent refresh (SG_BENCH_RERUN=0: the first
# run only, e.g. for 1,000,000 members). Not part of ctest.
set -eu
BUILD=${1:?build dir}
N=${2:?members}
DB=${3:?database URL}
WORK=${4:-$(mktemp -d /tmp/sg-bench-pipeline-XXXXXX)}
S="$BUILD/stargap"
export STARGAP_HASH_KEY=${STARGAP_HASH_KEY:-bench-pipeline-hmac-key-not-a-secret}
mkdir -p "$WORK"
echo "== generate $N members ($(date -u +%FT%TZ), $(nproc) cores)"
/usr/bin/time -f "generate %e s, max RSS %M KB" "$S" generate --members "$N" --contracts 3 \
    --years 2021-2024 --seed 20260101 --out "$WORK/in" > /dev/null
echo "== stargap run (first)"
/usr/bin/time -f "run %e s wall, %U s user, max RSS %M KB" "$S" --db "$DB" --log-level warn run \
    --quiet --input "$WORK/in" --year 2024
[ "${SG_BENCH_RERUN:-1}" = 0 ] && exit 0
echo "== stargap run (again: re-import unchanged, new model version, refresh)"
/usr/bin/time -f "run %e s wall, %U s user, max RSS %M KB" "$S" --db "$DB" --log-level warn run \
    --quiet --input "$WORK/in" --year 2024
echo "== optimize (budget \$100,000, revenue) and simulate (balanced, 10,000 runs), first contract"
C=$(head -2 "$WORK/in/members.csv" | tail -1 | cut -d, -f2)
/usr/bin/time -f "optimize %e s" "$S" --db "$DB" --log-level warn optimize --year 2024 \
    --contract "$C" --budget 100000 --objective revenue > /dev/null
/usr/bin/time -f "simulate %e s" "$S" --db "$DB" --log-level warn simulate --year 2024 \
    --contract "$C" --strategy balanced --budget 100000 --runs 10000 > /dev/null
