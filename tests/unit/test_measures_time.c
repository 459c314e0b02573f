/* test_measures_time.c: CQL DateTime/Interval semantics of the measure engine (cqltime.h),
 * checked against values worked out by hand from the CQL specification: precision-aware
 * comparison (null when uncertain), time-zone normalization to UTC, measurement-period
 * boundaries at day precision, open/closed and null interval bounds, calendar arithmetic, and
 * age in whole years on the last day of the period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "measures/cqltime.h"

static struct cql_dt P(const char *s) {
    struct cql_dt d;
    assert_int_equal(cql_dt_parse(s, &d), SG_OK);
    return d;
}

static struct cql_ivl
mp2025(void)
{
    return cql_ivl_make(cql_dt_make(2025, 1, 1, 0, 0, 0, 0), 1,
                        cql_dt_make(2025, 12, 31, 23, 59, 59, 999), 1);
}

static void test_parse_and_timezones(void **state)
{
    (void)state;
    struct cql_dt d = P("2025-06-01T10:00:00-05:00");
    assert_int_equal(d.prec, CQL_PTIME);
    assert_int_equal(d.y, 2025);
    assert_int_equal(d.d, 1);
    assert_int_equal(d.ms, 15 * 3600000); /* 15:00Z */
    /* 20:00 at -05:00 on Dec 31 is Jan 1 01:00Z of the next year */
    d = P("2025-12-31T20:00:00-05:00");
    assert_int_equal(d.y, 2026);
    assert_int_equal(d.m, 1);
    assert_int_equal(d.d, 1);
    assert_int_equal(d.ms, 3600000);
    /* +14:00 moves back a day */
    d = P("2025-01-01T05:00:00.5+14:00");
    assert_int_equal(d.y, 2024);
    assert_int_equal(d.d, 31);
    assert_int_equal(d.ms, 15 * 3600000 + 500);
    assert_int_equal(P("2025").prec, CQL_PYEAR);
    assert_int_equal(P("2025-02").prec, CQL_PMONTH);
    assert_int_equal(P("2024-02-29").prec, CQL_PDAY);
    struct cql_dt bad;
    assert_int_equal(cql_dt_parse("2025-02-29", &bad), SG_EPARSE);
    assert_int_equal(cql_dt_parse("2025-13-01", &bad), SG_EPARSE);
    assert_int_equal(cql_dt_parse("2025-01-01T10:00", &bad), SG_EPARSE);
    assert_int_equal(cql_dt_parse("2025-01-01T10:00:00+5", &bad), SG_EPARSE);
    assert_int_equal(cql_dt_parse("20250101", &bad), SG_EPARSE);
    assert_int_equal(bad.prec, CQL_PNULL);
}

static void test_precision_compare(void **state)
{
    (void)state;
    struct cql_dt y2025 = P("2025"), y2024 = P("2024"), start = cql_dt_make(2025, 1, 1, 0, 0, 0, 0);
    /* same year, year-only value: uncertain at day precision */
    assert_int_equal(cql_dt_cmp(&y2025, &start, CQL_PDAY), CQL_CMP_NULL);
    assert_int_equal(cql_dt_le(&y2025, &start, CQL_PDAY), CQL_N);
    /* a coarser difference still decides */
    assert_int_equal(cql_dt_cmp(&y2024, &start, CQL_PDAY), -1);
    assert_int_equal(cql_dt_cmp(&y2025, &start, CQL_PYEAR), 0);
    /* day-only vs a full DateTime on the same day: equal at day precision, uncertain at full */
    struct cql_dt day = P("2025-12-31"), end = cql_dt_make(2025, 12, 31, 23, 59, 59, 999);
    assert_int_equal(cql_dt_cmp(&day, &end, CQL_PDAY), 0);
    assert_int_equal(cql_dt_cmp(&day, &end, CQL_PTIME), CQL_CMP_NULL);
    /* seconds and milliseconds are one precision: 23:59:59 < 23:59:59.999 */
    struct cql_dt sec = P("2025-12-31T23:59:59Z");
    assert_int_equal(cql_dt_cmp(&sec, &end, CQL_PTIME), -1);
    struct cql_dt n = cql_dt_null();
    assert_int_equal(cql_dt_le(&n, &end, CQL_PDAY), CQL_N);
}

static void test_period_boundaries(void **state)
{
    (void)state;
    struct cql_ivl mp = mp2025();
    struct cql_dt a = P("2025-12-31T23:59:59.999Z"), b = P("2026-01-01T00:00:00.000Z"),
                  c = P("2025-01-01"), d = P("2024-12-31T23:59:59Z"),
                  e = P("2025-12-31T19:00:00-05:00"), f = P("2025-12-31T19:00:00-04:00");
    assert_int_equal(cql_in(&a, &mp, CQL_PDAY), CQL_T);
    assert_int_equal(cql_in(&b, &mp, CQL_PDAY), CQL_F);
    assert_int_equal(cql_in(&c, &mp, CQL_PDAY), CQL_T);
    assert_int_equal(cql_in(&d, &mp, CQL_PDAY), CQL_F);
    assert_int_equal(cql_in(&e, &mp, CQL_PDAY), CQL_F); /* 2026-01-01T00:00Z */
    assert_int_equal(cql_in(&f, &mp, CQL_PDAY), CQL_T); /* 23:00Z */
    struct cql_dt y = P("2025"), m = P("2025-12");
    assert_int_equal(cql_in(&y, &mp, CQL_PDAY), CQL_N); /* year only: uncertain */
    assert_int_equal(cql_in(&m, &mp, CQL_PDAY), CQL_N);
    struct cql_dt y26 = P("2026");
    assert_int_equal(cql_in(&y26, &mp, CQL_PDAY), CQL_F);

    /* an encounter from Dec 31 of the year before to Jan 1: overlaps, but not during */
    struct cql_ivl enc = cql_ivl_make(P("2024-12-31T23:59:59Z"), 1, P("2025-01-01T01:00:00Z"), 1);
    assert_int_equal(cql_overlaps(&enc, &mp, CQL_PDAY), CQL_T);
    assert_int_equal(cql_during(&enc, &mp, CQL_PDAY), CQL_F);
    assert_int_equal(cql_ends_during(&enc, &mp, CQL_PDAY), CQL_T);
    assert_int_equal(cql_starts_during(&enc, &mp, CQL_PDAY), CQL_F);
}

static void test_interval_bounds(void **state)
{
    (void)state;
    struct cql_ivl mp = mp2025();
    /* FHIR Period without end: Interval[start, null] closed -> ends at the maximum DateTime */
    struct cql_ivl ongoing = cql_ivl_make(P("2020-03-01"), 1, cql_dt_null(), 1);
    struct cql_dt end = cql_ivl_end(&ongoing), max = cql_dt_max();
    assert_int_equal(cql_dt_cmp(&end, &max, CQL_PTIME), 0);
    assert_int_equal(cql_overlaps(&ongoing, &mp, CQL_PDAY), CQL_T);
    /* latest(): no real end -> the start */
    struct cql_dt lat = cql_ivl_latest(&ongoing);
    assert_int_equal(lat.y, 2020);
    assert_int_equal(lat.m, 3);
    /* an open null end is unknown: End is null and "ends on or before" is null */
    struct cql_ivl unknown = cql_ivl_make(P("2020-03-01"), 1, cql_dt_null(), 0);
    assert_int_equal(cql_ivl_end(&unknown).prec, CQL_PNULL);
    struct cql_dt mpend = cql_ivl_end(&mp);
    assert_int_equal(cql_ends_on_or_before(&unknown, &mpend, CQL_PDAY), CQL_N);
    /* overlaps is still decided when the known start is after the period */
    struct cql_ivl later = cql_ivl_make(P("2026-02-01"), 1, cql_dt_null(), 0);
    assert_int_equal(cql_overlaps(&later, &mp, CQL_PDAY), CQL_F);
    /* open low null bound (Period without start): Start is null */
    struct cql_ivl nostart = cql_ivl_make(cql_dt_null(), 0, P("2025-05-01"), 1);
    assert_int_equal(cql_ivl_start(&nostart).prec, CQL_PNULL);
    assert_int_equal(cql_ends_during(&nostart, &mp, CQL_PDAY), CQL_T);
    /* [a, b) with day precision b: End is the day before */
    struct cql_ivl ab = cql_ivl_make(P("2025-01-10"), 1, P("2025-03-01"), 0);
    struct cql_dt e2 = cql_ivl_end(&ab);
    assert_int_equal(e2.m, 2);
    assert_int_equal(e2.d, 28);
    /* [a, b) with full precision b: 1 ms before */
    struct cql_ivl six = cql_ivl_make(cql_dt_make(2025, 1, 1, 0, 0, 0, 0), 1,
                                      cql_dt_make(2025, 7, 1, 0, 0, 0, 0), 0);
    struct cql_dt e3 = cql_ivl_end(&six);
    assert_int_equal(e3.m, 6);
    assert_int_equal(e3.d, 30);
    assert_int_equal(e3.ms, 86399999);
    struct cql_ivl july = cql_ivl_point(P("2025-07-01T00:00:00Z"));
    assert_int_equal(cql_overlaps(&july, &six, CQL_PTIME), CQL_F);
    struct cql_ivl nul = cql_ivl_null();
    assert_int_equal(cql_overlaps(&nul, &mp, CQL_PDAY), CQL_N);
}

static void test_arithmetic_and_age(void **state)
{
    (void)state;
    struct cql_dt leap = cql_date_make(2024, 2, 29);
    struct cql_dt n = cql_dt_add_years(leap, 1);
    assert_int_equal(n.y, 2025);
    assert_int_equal(n.m, 2);
    assert_int_equal(n.d, 28);
    n = cql_dt_add_months(cql_date_make(2025, 1, 31), 1);
    assert_int_equal(n.m, 2);
    assert_int_equal(n.d, 28);
    n = cql_dt_add_days(cql_date_make(2025, 12, 31), 1);
    assert_int_equal(n.y, 2026);
    assert_int_equal(n.d, 1);
    n = cql_dt_add_days(cql_date_make(2025, 3, 1), -1);
    assert_int_equal(n.m, 2);
    assert_int_equal(n.d, 28);

    int lo, hi;
    struct cql_dt end = cql_date_make(2025, 12, 31);
    struct cql_dt b1 = cql_date_make(1960, 12, 31), b2 = cql_date_make(1961, 1, 1),
                  b3 = cql_date_make(2000, 2, 29);
    assert_int_equal(cql_years_between(&b1, &end, &lo, &hi), CQL_T);
    assert_int_equal(lo, 65); /* birthday on the last day counts */
    assert_int_equal(hi, 65);
    cql_years_between(&b2, &end, &lo, &hi);
    assert_int_equal(lo, 64);
    struct cql_dt feb28 = cql_date_make(2025, 2, 28), feb29 = cql_date_make(2024, 2, 29);
    cql_years_between(&b3, &feb28, &lo, &hi);
    assert_int_equal(lo, 24);
    cql_years_between(&b3, &feb29, &lo, &hi);
    assert_int_equal(lo, 24);
    struct cql_dt by = P("1960"), bm = P("1960-12");
    cql_years_between(&by, &end, &lo, &hi); /* year-only birthDate: 64 or 65 */
    assert_int_equal(lo, 64);
    assert_int_equal(hi, 65);
    cql_years_between(&bm, &end, &lo, &hi); /* December: 64 or 65 */
    assert_int_equal(lo, 64);
    assert_int_equal(hi, 65);
    struct cql_dt bjun = P("1960-06");
    cql_years_between(&bjun, &end, &lo, &hi);
    assert_int_equal(lo, 65);
    assert_int_equal(hi, 65);
    struct cql_dt none = cql_dt_null();
    assert_int_equal(cql_years_between(&none, &end, &lo, &hi), CQL_F);
}

static void test_three_valued_logic(void **state)
{
    (void)state;
    assert_int_equal(cql_and(CQL_N, CQL_F), CQL_F);
    assert_int_equal(cql_and(CQL_N, CQL_T), CQL_N);
    assert_int_equal(cql_or(CQL_N, CQL_T), CQL_T);
    assert_int_equal(cql_or(CQL_N, CQL_F), CQL_N);
    assert_int_equal(cql_not(CQL_N), CQL_N);
    assert_int_equal(cql_not(CQL_T), CQL_F);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_timezones), cmocka_unit_test(test_precision_compare),
        cmocka_unit_test(test_period_boundaries),   cmocka_unit_test(test_interval_bounds),
        cmocka_unit_test(test_arithmetic_and_age),  cmocka_unit_test(test_three_valued_logic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
