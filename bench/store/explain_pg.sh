#!/usr/bin/env bash
# explain_pg.sh URL: the PostgreSQL plans of the hot reads store_bench times, on a database that
# store_bench has filled. Each statement (of a gap list, its page) is PREPAREd as store_pg.c
# prepares it and EXPLAINed with plan_cache_mode = force_generic_plan, the plan a long-lived
# pooled connection ends up with, so the output shows what the service really runs (index scans,
# no seq scans).
set -euo pipefail
url=${1:?usage: explain_pg.sh URL}
psql -X -q -v ON_ERROR_STOP=1 "$url" <<'SQL'
\pset pager off
SET plan_cache_mode = force_generic_plan;
SELECT member_hash AS h FROM members ORDER BY member_hash LIMIT 1 OFFSET 500 \gset
\echo '== predictions get_by_member (prediction_by_member)'
PREPARE a(text, text, int, bigint, bigint) AS
  SELECT * FROM predictions WHERE member_hash = $1
   AND ($2::text IS NULL OR measure_code = $2) AND ($3::int = 0 OR measurement_year = $3)
   ORDER BY prediction_date DESC, prediction_id DESC LIMIT $4 OFFSET $5;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE a(:'h', NULL, 0, 50, 0);
\echo '== predictions get_latest (prediction_latest)'
PREPARE b(text, text) AS
  SELECT * FROM predictions WHERE member_hash = $1 AND measure_code = $2
   ORDER BY prediction_date DESC, prediction_id DESC LIMIT 1;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE b(:'h', 'COL');
\echo '== gaps get_with_filters status=identified, by priority (gap_filter_0_0_0: status is a constant, migration 0016)'
PREPARE c(bigint, bigint) AS
  SELECT * FROM gap_analysis WHERE status = 'identified' ORDER BY priority_score DESC, gap_id
   LIMIT $1 OFFSET $2;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE c(50, 500);
\echo '== gaps get_with_filters status + measure (gap_filter_0_0_1)'
PREPARE d(text, bigint, bigint) AS
  SELECT * FROM gap_analysis WHERE status = 'identified' AND measure_code = $1
   ORDER BY priority_score DESC, gap_id LIMIT $2 OFFSET $3;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE d('BCS', 50, 500);
\echo '== gaps get_with_filters status + measure + contract, by probability (gap_filter_1_0_5)'
PREPARE d2(text, text, bigint, bigint) AS
  SELECT * FROM gap_analysis WHERE status = 'identified' AND measure_code = $1
   AND contract_id = $2 ORDER BY gap_probability DESC, gap_id LIMIT $3 OFFSET $4;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE d2('BCS', 'H0001', 50, 50);
\echo '== gaps total from gap_counts (gap_count_sum)'
PREPARE e(text, text, text, int) AS
  SELECT coalesce(sum(n), 0) FROM gap_counts WHERE ($1::text IS NULL OR measure_code = $1)
   AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR contract_id = $3)
   AND ($4::int = 0 OR measurement_year = $4);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE e(NULL, 'identified', NULL, 0);
\echo '== interventions get_pending (iv_pending)'
PREPARE f(date, bigint, bigint) AS
  SELECT * FROM interventions WHERE status IN ('planned', 'in_progress')
   AND scheduled_date IS NOT NULL AND scheduled_date <= $1
   ORDER BY scheduled_date, intervention_id LIMIT $2 OFFSET $3;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE f('2026-06-30', 50, 0);
SQL
psql -X -q -v ON_ERROR_STOP=1 "$url" <<'SQL'
\pset pager off
SET plan_cache_mode = force_generic_plan;
\echo '== interventions get_pending total (iv_pending_count, only when a page is full; migration 0004)'
PREPARE g(date) AS
  SELECT coalesce(sum(n), 0) FROM iv_pending_counts WHERE scheduled_date <= $1::date;
EXPLAIN (ANALYZE, COSTS OFF, SUMMARY ON) EXECUTE g('2026-06-30');
SQL
