/* buf.c: the bounded growable buffer of buf.h. Growth doubles capacity up to the cap. */
#include "core/buf.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sg_buf_init(struct sg_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sg_buf_fini(struct sg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void sg_buf_reset(struct sg_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

static int buf_reserve(struct sg_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return SG_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return SG_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1) cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p) return SG_ENOMEM;
    b->data = p;
    b->cap = cap;
    return SG_OK;
}

int sg_buf_append(struct sg_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SG_OK;
}

int sg_buf_puts(struct sg_buf *b, const char *s) { return sg_buf_append(b, s, strlen(s)); }

int sg_buf_vprintf(struct sg_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return SG_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc) return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return SG_OK;
}

int sg_buf_printf(struct sg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *sg_buf_take(struct sg_buf *b)
{
    char *p = b->data;
    if (!p) p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *sg_buf_str(const struct sg_buf *b) { return b->data ? b->data : ""; }

/* ---- doubles ----
 * glibc's printf converts doubles with multi-precision arithmetic (about 1 us per %.17g here),
 * which dominated writing SHAP vectors. No Debian library offers a shortest round-trip double
 * formatter for C, so this one is written here: 17 significant digits from |x| scaled by a power
 * of ten in long double, rounded to an integer, trailing zeros stripped, then shortened while
 * the text still parses back to x. Every result is verified with strtod, so a scaling error can
 * only cost speed (the snprintf fallback), never exactness. */

static int fmt_digits(int neg, uint64_t m, int nd, int e, char *out)
{
    /* m has nd significant digits d1 d2 ... with value 0.d1d2... x 10^(e+1) */
    char dig[24];
    for (int i = nd - 1; i >= 0; i--) {
        dig[i] = (char)('0' + m % 10);
        m /= 10;
    }
    char *o = out;
    if (neg) *o++ = '-';
    if (e >= -4 && e < 17) {
        if (e < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = -1; i > e; i--) *o++ = '0';
            for (int i = 0; i < nd; i++) *o++ = dig[i];
        } else {
            for (int i = 0; i <= e; i++) *o++ = i < nd ? dig[i] : '0';
            if (nd > e + 1) {
                *o++ = '.';
                for (int i = e + 1; i < nd; i++) *o++ = dig[i];
            }
        }
    } else {
        *o++ = dig[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++) *o++ = dig[i];
        }
        o += sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    *o = '\0';
    return (int)(o - out);
}

/* Powers of ten 10^-350 .. 10^350 in long double, computed once with powl (itself ~40% of the
 * formatting time when called per number). */
#define POW10_MIN (-350)
#define POW10_N 701
static long double pow10_tab[POW10_N];
static pthread_once_t pow10_once = PTHREAD_ONCE_INIT;

static void pow10_init(void)
{
    for (int i = 0; i < POW10_N; i++) pow10_tab[i] = powl(10.0L, (long double)(i + POW10_MIN));
}

static long double pow10l_tab(int k)
{
    if (k < POW10_MIN || k >= POW10_MIN + POW10_N) return powl(10.0L, (long double)k);
    return pow10_tab[k - POW10_MIN];
}

int sg_fmt_double(double x, char out[32])
{
    pthread_once(&pow10_once, pow10_init);
    if (x == 0) return sprintf(out, signbit(x) ? "-0" : "0");
    if (!isfinite(x)) return sprintf(out, "%s", isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
    int neg = x < 0;
    long double a = neg ? -(long double)x : (long double)x;
    int e = (int)floorl(log10l(a));
    long double scaled = a * pow10l_tab(16 - e);
    uint64_t m = (uint64_t)llroundl(scaled);
    if (m >= 100000000000000000ULL) { /* 10^17: one digit too many */
        e++;
        m = (uint64_t)llroundl(a * pow10l_tab(16 - e));
    } else if (m < 10000000000000000ULL) { /* 10^16 */
        e--;
        m = (uint64_t)llroundl(a * pow10l_tab(16 - e));
    }
    if (m < 10000000000000000ULL || m >= 100000000000000000ULL) return sprintf(out, "%.17g", x);
    int nd = 17;
    while (nd > 1 && m % 10 == 0) {
        m /= 10;
        nd--;
    }
    int len = fmt_digits(neg, m, nd, e, out);
    if (strtod(out, NULL) != x) return sprintf(out, "%.17g", x);
    /* shorter: round to fewer digits while the text still reads back as x */
    char t[32];
    while (nd > 1) {
        uint64_t r = (m + 5) / 10;
        int ne = e, nnd = nd - 1;
        uint64_t lim = 1;
        for (int i = 0; i < nnd; i++) lim *= 10;
        if (r >= lim) { /* rounding carried into a new leading digit */
            r /= 10;
            ne++;
        }
        while (nnd > 1 && r % 10 == 0) {
            r /= 10;
            nnd--;
        }
        int tl = fmt_digits(neg, r, nnd, ne, t);
        if (strtod(t, NULL) != x) break;
        memcpy(out, t, (size_t)tl + 1);
        len = tl;
        m = r;
        nd = nnd;
        e = ne;
    }
    return len;
}

int sg_buf_put_double(struct sg_buf *b, double x)
{
    char t[32];
    int n = sg_fmt_double(x, t);
    return sg_buf_append(b, t, (size_t)n);
}
