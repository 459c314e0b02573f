/* cqltime.c: CQL DateTime/Interval semantics (see cqltime.h). Calendar conversions use the
 * proleptic Gregorian day-number algorithm (days since 1970-01-01). */
#include "measures/cqltime.h"

#include <stdio.h>
#include <string.h>

#define MS_PER_DAY 86400000L

static long days_from_civil(long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, int *y, int *m, int *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = (long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned dd = doy - (153 * mp + 2) / 5 + 1;
    unsigned mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2) return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 29 : 28;
    return dm[m - 1];
}

struct cql_dt cql_dt_make(int y, int m, int d, int hh, int mi, int ss, int ms)
{
    struct cql_dt t = {(int16_t)y, (uint8_t)m, (uint8_t)d,
                       (int32_t)(((hh * 60 + mi) * 60 + ss) * 1000 + ms), CQL_PTIME};
    return t;
}

struct cql_dt cql_date_make(int y, int m, int d)
{
    struct cql_dt t = {(int16_t)y, (uint8_t)m, (uint8_t)d, 0, CQL_PDAY};
    return t;
}

struct cql_dt cql_date_from(struct cql_dt dt)
{
    if (dt.prec == CQL_PTIME) {
        dt.prec = CQL_PDAY;
        dt.ms = 0;
    }
    return dt;
}

struct cql_dt cql_dt_min(void)
{
    return cql_dt_make(1, 1, 1, 0, 0, 0, 0);
}
struct cql_dt cql_dt_max(void)
{
    return cql_dt_make(9999, 12, 31, 23, 59, 59, 999);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int cql_dt_parse(const char *s, struct cql_dt *out)
{
    *out = cql_dt_null();
    if (!s) return SG_EPARSE;
    size_t n = strlen(s);
    int y, m = 1, d = 1, hh = 0, mi = 0, ss = 0, ms = 0;
    if (n < 4 || digits(s, 4, &y) || y < 1) return SG_EPARSE;
    if (n == 4) {
        *out = (struct cql_dt){(int16_t)y, 1, 1, 0, CQL_PYEAR};
        return SG_OK;
    }
    if (n < 7 || s[4] != '-' || digits(s + 5, 2, &m) || m < 1 || m > 12) return SG_EPARSE;
    if (n == 7) {
        *out = (struct cql_dt){(int16_t)y, (uint8_t)m, 1, 0, CQL_PMONTH};
        return SG_OK;
    }
    if (n < 10 || s[7] != '-' || digits(s + 8, 2, &d) || d < 1 || d > days_in_month(y, m))
        return SG_EPARSE;
    if (n == 10) {
        *out = cql_date_make(y, m, d);
        return SG_OK;
    }
    const char *p = s + 10;
    if (*p != 'T' || strlen(p) < 9 || digits(p + 1, 2, &hh) || p[3] != ':' ||
        digits(p + 4, 2, &mi) || p[6] != ':' || digits(p + 7, 2, &ss) || hh > 23 || mi > 59 ||
        ss > 60)
        return SG_EPARSE;
    if (ss == 60) ss = 59; /* leap second: CQL has none */
    p += 9;
    if (*p == '.') {
        p++;
        int nd = 0;
        ms = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 3) ms = ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0) return SG_EPARSE;
        for (int k = nd; k < 3; k++)
            ms *= 10;
    }
    long off_min = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (strlen(p) != 6 || digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
            oh > 14 || om > 59)
            return SG_EPARSE;
        off_min = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    }
    if (*p) return SG_EPARSE;
    long day = days_from_civil(y, (unsigned)m, (unsigned)d);
    long t = (((long)hh * 60 + mi) * 60 + ss) * 1000L + ms - off_min * 60000L;
    while (t < 0) {
        t += MS_PER_DAY;
        day--;
    }
    while (t >= MS_PER_DAY) {
        t -= MS_PER_DAY;
        day++;
    }
    civil_from_days(day, &y, &m, &d);
    if (y < 1 || y > 9999) return SG_EPARSE;
    *out = (struct cql_dt){(int16_t)y, (uint8_t)m, (uint8_t)d, (int32_t)t, CQL_PTIME};
    return SG_OK;
}

void cql_dt_format(const struct cql_dt *dt, char *out, unsigned outlen)
{
    if (!outlen) return;
    switch (dt->prec) {
    case CQL_PYEAR: snprintf(out, outlen, "%04d", dt->y); break;
    case CQL_PMONTH: snprintf(out, outlen, "%04d-%02d", dt->y, dt->m); break;
    case CQL_PDAY: snprintf(out, outlen, "%04d-%02d-%02d", dt->y, dt->m, dt->d); break;
    case CQL_PTIME: {
        int t = dt->ms;
        snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", dt->y, dt->m, dt->d,
                 t / 3600000, t / 60000 % 60, t / 1000 % 60, t % 1000);
        break;
    }
    default: out[0] = '\0';
    }
}

int cql_dt_cmp(const struct cql_dt *a, const struct cql_dt *b, int prec)
{
    if (a->prec == CQL_PNULL || b->prec == CQL_PNULL) return CQL_CMP_NULL;
    long av[4] = {a->y, a->m, a->d, a->ms}, bv[4] = {b->y, b->m, b->d, b->ms};
    for (int l = CQL_PYEAR; l <= prec; l++) {
        if (a->prec < l || b->prec < l) return CQL_CMP_NULL;
        if (av[l - 1] != bv[l - 1]) return av[l - 1] < bv[l - 1] ? -1 : 1;
    }
    return 0;
}

enum cql_bool cql_dt_le(const struct cql_dt *a, const struct cql_dt *b, int prec)
{
    int c = cql_dt_cmp(a, b, prec); /* a coarser difference decides even with missing parts */
    if (c == CQL_CMP_NULL) return CQL_N;
    return c <= 0 ? CQL_T : CQL_F;
}

enum cql_bool cql_dt_same(const struct cql_dt *a, const struct cql_dt *b, int prec)
{
    int c = cql_dt_cmp(a, b, prec);
    if (c == CQL_CMP_NULL) return CQL_N;
    return c == 0 ? CQL_T : CQL_F;
}

struct cql_dt cql_dt_add_months(struct cql_dt dt, int n)
{
    if (dt.prec == CQL_PNULL) return dt;
    int total = dt.y * 12 + (dt.m - 1) + n;
    dt.y = (int16_t)(total / 12);
    dt.m = (uint8_t)(total % 12 + 1);
    int dim = days_in_month(dt.y, dt.m);
    if (dt.d > dim) dt.d = (uint8_t)dim;
    return dt;
}

struct cql_dt cql_dt_add_years(struct cql_dt dt, int n)
{
    return cql_dt_add_months(dt, n * 12);
}

struct cql_dt cql_dt_add_days(struct cql_dt dt, long n)
{
    if (dt.prec < CQL_PDAY) return dt;
    int y, m, d;
    civil_from_days(days_from_civil(dt.y, dt.m, dt.d) + n, &y, &m, &d);
    if (y < 1 || y > 9999) return cql_dt_null();
    dt.y = (int16_t)y;
    dt.m = (uint8_t)m;
    dt.d = (uint8_t)d;
    return dt;
}

enum cql_bool cql_years_between(const struct cql_dt *a, const struct cql_dt *b, int *lo, int *hi)
{
    *lo = *hi = 0;
    if (a->prec == CQL_PNULL || b->prec < CQL_PDAY) return CQL_F;
    int base = b->y - a->y;
    if (a->prec == CQL_PYEAR) {
        *lo = base - 1;
        *hi = base;
    } else if (a->prec == CQL_PMONTH) {
        if (a->m < b->m)
            *lo = *hi = base;
        else if (a->m > b->m)
            *lo = *hi = base - 1;
        else {
            *lo = base - 1;
            *hi = base;
        }
    } else {
        int before = (b->m < a->m) || (b->m == a->m && b->d < a->d);
        *lo = *hi = base - before;
    }
    return CQL_T;
}

struct cql_ivl cql_ivl_make(struct cql_dt lo, int lo_closed, struct cql_dt hi, int hi_closed)
{
    struct cql_ivl i = {lo, hi, (uint8_t)(lo_closed != 0), (uint8_t)(hi_closed != 0), 0};
    return i;
}

struct cql_ivl cql_ivl_point(struct cql_dt p)
{
    if (p.prec == CQL_PNULL) return cql_ivl_null();
    return cql_ivl_make(p, 1, p, 1);
}

/* Successor / predecessor at the value's own precision. */
static struct cql_dt step(struct cql_dt dt, int dir)
{
    switch (dt.prec) {
    case CQL_PYEAR: return cql_dt_add_years(dt, dir);
    case CQL_PMONTH: return cql_dt_add_months(dt, dir);
    case CQL_PDAY: return cql_dt_add_days(dt, dir);
    case CQL_PTIME: {
        long t = dt.ms + dir;
        if (t < 0) {
            dt = cql_dt_add_days(dt, -1);
            t += MS_PER_DAY;
        } else if (t >= MS_PER_DAY) {
            dt = cql_dt_add_days(dt, 1);
            t -= MS_PER_DAY;
        }
        if (dt.prec != CQL_PNULL) dt.ms = (int32_t)t;
        return dt;
    }
    default: return dt;
    }
}

struct cql_dt cql_ivl_start(const struct cql_ivl *i)
{
    if (i->null) return cql_dt_null();
    if (i->lo_closed) return i->lo.prec == CQL_PNULL ? cql_dt_min() : i->lo;
    return i->lo.prec == CQL_PNULL ? cql_dt_null() : step(i->lo, 1);
}

struct cql_dt cql_ivl_end(const struct cql_ivl *i)
{
    if (i->null) return cql_dt_null();
    if (i->hi_closed) return i->hi.prec == CQL_PNULL ? cql_dt_max() : i->hi;
    return i->hi.prec == CQL_PNULL ? cql_dt_null() : step(i->hi, -1);
}

struct cql_dt cql_ivl_latest(const struct cql_ivl *i)
{
    if (i->null) return cql_dt_null();
    struct cql_dt e = cql_ivl_end(i), mx = cql_dt_max();
    /* hasEnd: end is not null and not the maximum DateTime */
    if (e.prec != CQL_PNULL && cql_dt_cmp(&e, &mx, CQL_PTIME) != 0) return e;
    return cql_ivl_start(i);
}

enum cql_bool cql_in(const struct cql_dt *p, const struct cql_ivl *i, int prec)
{
    if (i->null || p->prec == CQL_PNULL) return CQL_N;
    struct cql_dt s = cql_ivl_start(i), e = cql_ivl_end(i);
    return cql_and(cql_dt_le(&s, p, prec), cql_dt_le(p, &e, prec));
}

enum cql_bool cql_during(const struct cql_ivl *a, const struct cql_ivl *b, int prec)
{
    if (a->null || b->null) return CQL_N;
    struct cql_dt as = cql_ivl_start(a), ae = cql_ivl_end(a), bs = cql_ivl_start(b),
                  be = cql_ivl_end(b);
    return cql_and(cql_dt_le(&bs, &as, prec), cql_dt_le(&ae, &be, prec));
}

enum cql_bool cql_overlaps(const struct cql_ivl *a, const struct cql_ivl *b, int prec)
{
    if (a->null || b->null) return CQL_N;
    struct cql_dt as = cql_ivl_start(a), ae = cql_ivl_end(a), bs = cql_ivl_start(b),
                  be = cql_ivl_end(b);
    return cql_and(cql_dt_le(&as, &be, prec), cql_dt_le(&bs, &ae, prec));
}

enum cql_bool cql_ends_during(const struct cql_ivl *a, const struct cql_ivl *b, int prec)
{
    if (a->null) return CQL_N;
    struct cql_dt e = cql_ivl_end(a);
    return cql_in(&e, b, prec);
}

enum cql_bool cql_starts_during(const struct cql_ivl *a, const struct cql_ivl *b, int prec)
{
    if (a->null) return CQL_N;
    struct cql_dt s = cql_ivl_start(a);
    return cql_in(&s, b, prec);
}

enum cql_bool cql_ends_on_or_before(const struct cql_ivl *a, const struct cql_dt *p, int prec)
{
    if (a->null) return CQL_N;
    struct cql_dt e = cql_ivl_end(a);
    return cql_dt_le(&e, p, prec);
}

enum cql_bool cql_starts_on_or_before(const struct cql_ivl *a, const struct cql_dt *p, int prec)
{
    if (a->null) return CQL_N;
    struct cql_dt s = cql_ivl_start(a);
    return cql_dt_le(&s, p, prec);
}
