/* metrics.c: AUC, Brier score, log loss and expected calibration error (metrics.h). */
#include "model/metrics.h"

#include <math.h>
#include <stdlib.h>

struct scored {
    double p;
    uint8_t y;
};

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->p, z = ((const struct scored *)b)->p;
    return (x > z) - (x < z);
}

int metric_auc(const double *p, const uint8_t *y, size_t n, double *auc)
{
    *auc = NAN;
    size_t npos = 0;
    for (size_t i = 0; i < n; i++)
        npos += y[i] != 0;
    size_t nneg = n - npos;
    if (npos == 0 || nneg == 0) return SG_OK;
    struct scored *s = malloc(n * sizeof *s);
    if (!s) return SG_ENOMEM;
    for (size_t i = 0; i < n; i++)
        s[i] = (struct scored){p[i], y[i] != 0};
    qsort(s, n, sizeof *s, cmp_scored);
    /* Sum of the (average) ranks of the positives; ranks start at 1. */
    double rank_sum = 0.0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        size_t pos = 0;
        while (j < n && s[j].p == s[i].p)
            pos += s[j++].y;
        double avg = ((double)(i + 1) + (double)j) / 2.0;
        rank_sum += avg * (double)pos;
        i = j;
    }
    free(s);
    double u = rank_sum - (double)npos * ((double)npos + 1.0) / 2.0;
    *auc = u / ((double)npos * (double)nneg);
    return SG_OK;
}

double metric_brier(const double *p, const uint8_t *y, size_t n)
{
    if (!n) return NAN;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = p[i] - (y[i] ? 1.0 : 0.0);
        s += d * d;
    }
    return s / (double)n;
}

double metric_logloss(const double *p, const uint8_t *y, size_t n)
{
    if (!n) return NAN;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        double q = p[i] < 1e-15 ? 1e-15 : p[i] > 1.0 - 1e-15 ? 1.0 - 1e-15 : p[i];
        s -= y[i] ? log(q) : log1p(-q);
    }
    return s / (double)n;
}

double metric_ece(const double *p, const uint8_t *y, size_t n, unsigned bins)
{
    if (!n || !bins) return NAN;
    double *sp = calloc(2 * (size_t)bins, sizeof(double));
    size_t *cnt = calloc(bins, sizeof(size_t));
    double e = NAN;
    if (!sp || !cnt) goto done;
    for (size_t i = 0; i < n; i++) {
        double q = p[i] < 0.0 ? 0.0 : p[i] > 1.0 ? 1.0 : p[i];
        size_t k = (size_t)(q * bins);
        if (k >= bins) k = bins - 1;
        sp[2 * k] += p[i];
        sp[2 * k + 1] += y[i] ? 1.0 : 0.0;
        cnt[k]++;
    }
    e = 0.0;
    for (unsigned k = 0; k < bins; k++)
        if (cnt[k]) e += fabs(sp[2 * k] - sp[2 * k + 1]) / (double)n;
done:
    free(sp);
    free(cnt);
    return e;
}
