/* cqltime.h: CQL DateTime and Interval<DateTime> semantics for the measure engine.
 *
 * A DateTime carries its precision (year, month, day, or full time). FHIR dateTime allows only
 * these: a time part always has seconds, and CQL compares seconds and milliseconds as one
 * precision. Values with a time part are normalized to UTC, the evaluation offset (the default
 * "Measurement Period" of every measure is written in Z); date-only values keep their calendar
 * date. Comparisons follow CQL: component by component down to the requested precision; when one
 * side lacks a component that the other has and all coarser ones are equal, the result is null.
 * Booleans are three-valued (CQL_T, CQL_F, CQL_N). Interval start/end follow CQL's Start/End:
 * a closed null bound is the minimum/maximum DateTime, an open null bound is unknown (null), and
 * an open bound is the successor/predecessor at the bound's precision. */
#ifndef SG_MEASURES_CQLTIME_H
#define SG_MEASURES_CQLTIME_H

#include <stdint.h>

#include "core/err.h"

enum cql_prec { CQL_PNULL = 0, CQL_PYEAR, CQL_PMONTH, CQL_PDAY, CQL_PTIME };
enum cql_bool { CQL_F = 0, CQL_T = 1, CQL_N = 2 };
#define CQL_CMP_NULL 2 /* cql_dt_cmp result when the comparison is uncertain */

struct cql_dt {
    int16_t y;    /* year 1..9999 */
    uint8_t m, d; /* month 1..12, day 1..31 (1 when below the precision) */
    int32_t ms;   /* milliseconds since midnight UTC (0 below CQL_PTIME) */
    uint8_t prec; /* enum cql_prec; CQL_PNULL = null */
};

struct cql_ivl {
    struct cql_dt lo, hi; /* bounds; prec CQL_PNULL = null bound */
    uint8_t lo_closed, hi_closed;
    uint8_t null; /* the interval itself is null */
};

/* Parses a FHIR date, dateTime or instant ("2025", "2025-06", "2025-06-01",
 * "2025-06-01T10:00:00[.fff](Z|+hh:mm)") into *out, normalizing times to UTC. A time without
 * offset is read as UTC. Returns SG_OK or SG_EPARSE (out is null then). */
int cql_dt_parse(const char *s, struct cql_dt *out) SG_WUR;

/* Formats dt as ISO 8601 at its precision into out (at least 32 bytes); "" for null. */
void cql_dt_format(const struct cql_dt *dt, char *out, unsigned outlen);

/* Builds a DateTime from components at full precision (UTC). */
struct cql_dt cql_dt_make(int y, int m, int d, int hh, int mi, int ss, int ms);
/* A Date (day precision). */
struct cql_dt cql_date_make(int y, int m, int d);
/* "date from dt": the date part (day precision); null stays null, coarser precision kept. */
struct cql_dt cql_date_from(struct cql_dt dt);
/* The minimum (0001-01-01T00:00:00.000) and maximum (9999-12-31T23:59:59.999) DateTime. */
struct cql_dt cql_dt_min(void);
struct cql_dt cql_dt_max(void);
/* A null DateTime. */
static inline struct cql_dt cql_dt_null(void)
{
    struct cql_dt z = {0, 0, 0, 0, CQL_PNULL};
    return z;
}

/* Compares a and b down to precision `prec` (CQL_PTIME for full). Returns -1, 0, 1, or
 * CQL_CMP_NULL when either is null or the comparison is uncertain. */
int cql_dt_cmp(const struct cql_dt *a, const struct cql_dt *b, int prec);

/* a <= b at precision (three-valued). */
enum cql_bool cql_dt_le(const struct cql_dt *a, const struct cql_dt *b, int prec);
/* a same `prec` as b ("same day as"). */
enum cql_bool cql_dt_same(const struct cql_dt *a, const struct cql_dt *b, int prec);

/* Calendar arithmetic: adds years / months (day clamped to the month's end) or days. Keeps the
 * precision; null stays null. Adding days to a value coarser than a day leaves it unchanged. */
struct cql_dt cql_dt_add_years(struct cql_dt dt, int n);
struct cql_dt cql_dt_add_months(struct cql_dt dt, int n);
struct cql_dt cql_dt_add_days(struct cql_dt dt, long n);

/* Whole calendar years between date a (e.g. a birthDate) and date b, as a range [*lo, *hi]
 * that is a single value when a has day precision. Returns CQL_F when either is null. */
enum cql_bool cql_years_between(const struct cql_dt *a, const struct cql_dt *b, int *lo, int *hi);

/* Interval[lo, hi] with the given closedness (a bound with prec CQL_PNULL is a null bound). */
struct cql_ivl cql_ivl_make(struct cql_dt lo, int lo_closed, struct cql_dt hi, int hi_closed);
/* Interval[p, p]; the null interval when p is null. */
struct cql_ivl cql_ivl_point(struct cql_dt p);
/* The null interval. */
static inline struct cql_ivl cql_ivl_null(void)
{
    struct cql_ivl z;
    z.lo = z.hi = cql_dt_null();
    z.lo_closed = z.hi_closed = 1;
    z.null = 1;
    return z;
}

/* CQL Start/End of an interval (null interval -> null). */
struct cql_dt cql_ivl_start(const struct cql_ivl *i);
struct cql_dt cql_ivl_end(const struct cql_ivl *i);

/* QICoreCommon latest(): end when it is known and not the maximum, else start. */
struct cql_dt cql_ivl_latest(const struct cql_ivl *i);

/* Timing operators at precision `prec` (CQL_PDAY for "... day of", CQL_PTIME otherwise). */
enum cql_bool cql_in(const struct cql_dt *p, const struct cql_ivl *i, int prec); /* p during I */
enum cql_bool cql_during(const struct cql_ivl *a, const struct cql_ivl *b,
                         int prec); /* A during B */
enum cql_bool cql_overlaps(const struct cql_ivl *a, const struct cql_ivl *b,
                           int prec); /* A overlaps B */
enum cql_bool cql_ends_during(const struct cql_ivl *a, const struct cql_ivl *b,
                              int prec); /* end of A in B */
enum cql_bool cql_starts_during(const struct cql_ivl *a, const struct cql_ivl *b, int prec);
enum cql_bool cql_ends_on_or_before(const struct cql_ivl *a, const struct cql_dt *p, int prec);
enum cql_bool cql_starts_on_or_before(const struct cql_ivl *a, const struct cql_dt *p, int prec);

/* Three-valued and / or / not. */
static inline enum cql_bool cql_and(enum cql_bool a, enum cql_bool b)
{
    if (a == CQL_F || b == CQL_F) return CQL_F;
    if (a == CQL_T && b == CQL_T) return CQL_T;
    return CQL_N;
}
static inline enum cql_bool cql_or(enum cql_bool a, enum cql_bool b)
{
    if (a == CQL_T || b == CQL_T) return CQL_T;
    if (a == CQL_F && b == CQL_F) return CQL_F;
    return CQL_N;
}
static inline enum cql_bool cql_not(enum cql_bool a)
{
    return a == CQL_N ? CQL_N : (a == CQL_T ? CQL_F : CQL_T);
}

#endif
