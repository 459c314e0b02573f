/* outcome.c: the expected outcome of a plan. Each measure's year-end closures are a
 * Poisson-binomial count (independent members, one probability each); its star distribution
 * follows from the count thresholds of the cut points; the overall rating's distribution is
 * obtained by enumerating the joint measure stars through the rater. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "portfolio/internal.h"
#include "portfolio/plan.h"

#define PF_NORMAL_ABOVE 2000 /* open gaps above which pf_evaluate(exact=0) uses the normal */

/* The direct DP: adds one Bernoulli at a time to the pmf, dropping edge entries below 1e-17
 * of the peak as it goes. */
static int pb_dp(const double *p, size_t n, double **pmf, size_t *lo, size_t *len)
{
    double *f = calloc(n + 2, sizeof *f);
    if (!f) return SG_ENOMEM;
    size_t a = 0, b = 0; /* live window f[a..b] */
    f[0] = 1.0;
    for (size_t i = 0; i < n; i++) {
        double q = p[i], mx = 0.0;
        f[b + 1] = 0.0;
        for (size_t k = b + 1; k > a; k--) {
            f[k] = f[k] * (1.0 - q) + f[k - 1] * q;
            if (f[k] > mx) mx = f[k];
        }
        f[a] *= 1.0 - q;
        if (f[a] > mx) mx = f[a];
        b++;
        double thr = mx * 1e-17;
        while (a < b && f[a] < thr)
            f[a++] = 0.0;
        while (b > a && f[b] < thr)
            f[b--] = 0.0;
    }
    size_t w = b - a + 1;
    double *out = malloc(w * sizeof *out);
    if (!out) {
        free(f);
        return SG_ENOMEM;
    }
    memcpy(out, f + a, w * sizeof *out);
    free(f);
    *pmf = out;
    *lo = a;
    *len = w;
    return SG_OK;
}

#define PB_LEAF 512 /* below this many probabilities the DP is used directly */

/* Divide and conquer: the pmf of a sum is the convolution of the halves' pmfs. With the edge
 * truncation a pmf of m probabilities is ~18 sd wide, so each level of the recursion costs about
 * the same and the whole is O(n log n) instead of the DP's O(n * width). */
static int pb_rec(const double *p, size_t n, double **pmf, size_t *lo, size_t *len)
{
    if (n <= PB_LEAF) return pb_dp(p, n, pmf, lo, len);
    double *a = NULL, *b = NULL;
    size_t la, lb, na, nb;
    size_t h = n / 2;
    int rc = pb_rec(p, h, &a, &la, &na);
    if (!rc) rc = pb_rec(p + h, n - h, &b, &lb, &nb);
    if (rc) {
        free(a);
        free(b);
        *pmf = NULL;
        return rc;
    }
    size_t nc = na + nb - 1;
    double *c = calloc(nc, sizeof *c);
    if (!c) {
        free(a);
        free(b);
        *pmf = NULL;
        return SG_ENOMEM;
    }
    for (size_t i = 0; i < na; i++) {
        double ai = a[i];
        double *ci = c + i;
        for (size_t j = 0; j < nb; j++)
            ci[j] += ai * b[j];
    }
    free(a);
    free(b);
    double mx = 0.0;
    for (size_t k = 0; k < nc; k++)
        if (c[k] > mx) mx = c[k];
    size_t s = 0, e = nc; /* keep c[s..e) */
    while (s + 1 < e && c[s] < mx * 1e-17)
        s++;
    while (e - 1 > s && c[e - 1] < mx * 1e-17)
        e--;
    if (s > 0) memmove(c, c + s, (e - s) * sizeof *c);
    *pmf = c;
    *lo = la + lb + s;
    *len = e - s;
    return SG_OK;
}

int pf_poisson_binomial(const double *p, size_t n, double **pmf, size_t *lo, size_t *len)
{
    *pmf = NULL;
    *lo = *len = 0;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] >= 0.0 && p[i] <= 1.0)) return SG_EINVAL;
    return pb_rec(p, n, pmf, lo, len);
}

static void stardist_finish(struct pf_stardist *d, const double ge[6])
{
    /* ge[k] = P(star >= k), k = 2..5, non-increasing */
    d->p[0] = 0.0;
    d->p[1] = 1.0 - ge[2];
    for (int k = 2; k <= 4; k++)
        d->p[k] = ge[k] - ge[k + 1];
    d->p[5] = ge[5];
    for (int k = 1; k <= 5; k++)
        if (d->p[k] < 0) d->p[k] = 0; /* rounding noise */
}

void pf_stardist_normal(const struct pf_measure *m, const long need[6], double mu, double var,
                        struct pf_stardist *d)
{
    memset(d, 0, sizeof *d);
    if (m->denominator <= 0) {
        d->p[0] = 1.0;
        return;
    }
    double ge[6] = {1, 1, 0, 0, 0, 0};
    double sd = var > 1e-12 ? sqrt(var) : 0.0;
    for (int k = 2; k <= 5; k++) {
        double t = (double)(need[k] - m->compliant); /* closures needed for star >= k */
        if (t <= 0)
            ge[k] = 1.0;
        else if (need[k] > m->denominator)
            ge[k] = 0.0;
        else if (sd == 0.0)
            ge[k] = mu + 1e-9 >= t ? 1.0 : 0.0;
        else
            ge[k] = 0.5 * erfc((t - 0.5 - mu) / (sd * M_SQRT2));
        if (k > 2 && ge[k] > ge[k - 1]) ge[k] = ge[k - 1];
    }
    stardist_finish(d, ge);
}

void pf_stardist_pmf(const struct pf_measure *m, const long need[6], const double *pmf, size_t lo,
                     size_t len, struct pf_stardist *d)
{
    memset(d, 0, sizeof *d);
    if (m->denominator <= 0) {
        d->p[0] = 1.0;
        return;
    }
    double ge[6] = {1, 1, 0, 0, 0, 0};
    for (int k = 2; k <= 5; k++) {
        long t = need[k] - m->compliant;
        double s = 0.0;
        if (need[k] > m->denominator)
            s = 0.0;
        else if (t <= (long)lo)
            s = 1.0;
        else
            for (size_t j = (size_t)t - lo; j < len; j++)
                s += pmf[j];
        ge[k] = s > 1.0 ? 1.0 : s;
        if (k > 2 && ge[k] > ge[k - 1]) ge[k] = ge[k - 1];
    }
    stardist_finish(d, ge);
}

struct support {
    int star[6];
    double prob[6];
    int n;
};

int pf_enumerate(const struct pf_problem *p, const struct pf_stardist *d, int fixed_m, int fixed_k,
                 double max_combos, struct pf_enum_result *out, char *err, size_t errlen)
{
    size_t nm = p->n_measures;
    struct support sup[PF_MAX_MEASURES];
    memset(out, 0, sizeof *out);
    for (size_t m = 0; m < nm; m++) {
        struct support *s = &sup[m];
        s->n = 0;
        if ((int)m == fixed_m) {
            s->star[0] = fixed_k;
            s->prob[0] = 1.0;
            s->n = 1;
            continue;
        }
        if (d[m].p[0] >= 0.5) {
            s->star[0] = 0;
            s->prob[0] = 1.0;
            s->n = 1;
            continue;
        }
        for (int k = 1; k <= 5; k++)
            if (d[m].p[k] > 1e-9) {
                s->star[s->n] = k;
                s->prob[s->n++] = d[m].p[k];
            }
        /* sort by probability, descending (insertion sort of <= 5) */
        for (int i = 1; i < s->n; i++)
            for (int j = i; j > 0 && s->prob[j] > s->prob[j - 1]; j--) {
                double tp = s->prob[j];
                s->prob[j] = s->prob[j - 1];
                s->prob[j - 1] = tp;
                int ts = s->star[j];
                s->star[j] = s->star[j - 1];
                s->star[j - 1] = ts;
            }
        if (s->n == 0) { /* all mass below the floor: keep the most likely */
            int best = 1;
            for (int k = 2; k <= 5; k++)
                if (d[m].p[k] > d[m].p[best]) best = k;
            s->star[0] = best;
            s->prob[0] = 1.0;
            s->n = 1;
        }
    }
    /* prune: drop the least likely star of the measure whose smallest retained probability is
     * the smallest overall, until the product of support sizes is small enough */
    for (;;) {
        double prod = 1.0;
        for (size_t m = 0; m < nm; m++)
            prod *= sup[m].n;
        if (prod <= max_combos) break;
        size_t worst = 0;
        double wp = 2.0;
        for (size_t m = 0; m < nm; m++)
            if (sup[m].n > 1 && sup[m].prob[sup[m].n - 1] < wp) {
                wp = sup[m].prob[sup[m].n - 1];
                worst = m;
            }
        sup[worst].n--;
    }
    for (size_t m = 0; m < nm; m++) {
        double t = 0;
        for (int i = 0; i < sup[m].n; i++)
            t += sup[m].prob[i];
        for (int i = 0; i < sup[m].n; i++)
            sup[m].prob[i] /= t;
    }
    double rev[11];
    for (int i = 0; i <= 10; i++) {
        struct pf_revenue r;
        pf_econ_revenue(&p->cfg->econ, i / 2.0, p->members, &r);
        rev[i] = r.annual;
    }
    int idx[PF_MAX_MEASURES] = {0}, stars[PF_MAX_MEASURES];
    for (;;) {
        double pr = 1.0;
        for (size_t m = 0; m < nm; m++) {
            stars[m] = sup[m].star[idx[m]];
            pr *= sup[m].prob[idx[m]];
        }
        struct pf_ratings r;
        int rc = p->rater.rate(p->rater.ctx, stars, nm, &r);
        if (rc) return sg_errf(err, errlen, rc, "rater: failed (%s)", sg_strerror(rc));
        int h = (int)lround(r.overall * 2.0);
        if (h < 0) h = 0;
        if (h > 10) h = 10;
        out->exp_raw += pr * r.overall_raw;
        out->exp_overall += pr * r.overall;
        out->p_overall[h] += pr;
        out->exp_revenue += pr * rev[h];
        out->exp_smooth +=
            pr * (r.overall > 0 ? pf_econ_smooth_revenue(&p->cfg->econ, r.overall_raw, p->members)
                                : rev[0]);
        size_t m = 0;
        while (m < nm && ++idx[m] >= sup[m].n)
            idx[m++] = 0;
        if (m == nm) break;
    }
    return SG_OK;
}

void pf_closure_probs(const struct pf_problem *p, const struct pf_candidates *c,
                      const uint8_t *chosen, double *pclose)
{
    double succ[PF_MAX_MEASURES], cost[PF_MAX_MEASURES];
    pf_measure_itypes(p, succ, cost);
    for (size_t i = 0; i < p->n_gaps; i++)
        pclose[i] = 1.0 - p->gaps[i].gap_probability;
    if (!c || !chosen) return;
    for (size_t i = 0; i < c->n; i++) {
        if (!chosen[i]) continue;
        const struct pf_intervention *it = &c->items[i];
        for (uint32_t j = 0; j < it->n_gaps; j++) {
            uint32_t g = c->gap_index[it->first + j];
            const struct pf_gap *gp = &p->gaps[g];
            pclose[g] = 1.0 - gp->gap_probability * (1.0 - succ[gp->measure]);
        }
    }
}

int pf_outcome_fill(const struct pf_problem *p, const struct pf_stardist *d, const double *mu,
                    struct pf_outcome *out, char *err, size_t errlen)
{
    int stars_exp[PF_MAX_MEASURES];
    int rc;
    memset(out, 0, sizeof *out);
    for (size_t m = 0; m < p->n_measures; m++) {
        const struct pf_measure *ms = &p->measures[m];
        struct pf_measure_outcome *mo = &out->m[m];
        mo->exp_closures = mu[m];
        double c = (double)ms->compliant + mu[m], den = (double)ms->denominator;
        mo->exp_rate =
            den > 0 ? (ms->lower_is_better ? 100.0 * (den - c) / den : 100.0 * c / den) : 0;
        mo->star_at_exp = pf_star_for_count(ms, ms->compliant + lround(mu[m]));
        stars_exp[m] = mo->star_at_exp;
        for (int k = 0; k <= 5; k++) {
            mo->p_star[k] = d[m].p[k];
            mo->exp_star += k * d[m].p[k];
        }
    }
    if ((rc = p->rater.rate(p->rater.ctx, stars_exp, p->n_measures, &out->at_exp)))
        return sg_errf(err, errlen, rc, "rater: failed (%s)", sg_strerror(rc));
    struct pf_revenue rv;
    pf_econ_revenue(&p->cfg->econ, out->at_exp.overall, p->members, &rv);
    out->revenue_at_exp = rv.annual;
    struct pf_enum_result er;
    if ((rc = pf_enumerate(p, d, -1, 0, PF_ENUM_MAX, &er, err, errlen))) return rc;
    out->exp_overall_raw = er.exp_raw;
    out->exp_overall = er.exp_overall;
    memcpy(out->p_overall, er.p_overall, sizeof out->p_overall);
    for (int i = 8; i <= 10; i++)
        out->p_overall_ge4 += er.p_overall[i];
    out->exp_revenue = er.exp_revenue;
    return SG_OK;
}

int pf_evaluate(const struct pf_problem *p, const double *pclose, int exact, struct pf_outcome *out,
                char *err, size_t errlen)
{
    size_t nm = p->n_measures;
    long need[PF_MAX_MEASURES][6];
    size_t cnt[PF_MAX_MEASURES] = {0}, off[PF_MAX_MEASURES + 1];
    double mu[PF_MAX_MEASURES] = {0}, var[PF_MAX_MEASURES] = {0};
    struct pf_stardist d[PF_MAX_MEASURES];
    double *grouped = NULL;
    int rc = SG_OK;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < p->n_gaps; i++) {
        double q = pclose[i];
        if (!(q >= 0.0 && q <= 1.0))
            return sg_errf(err, errlen, SG_ERANGE, "pclose[%zu]: %g outside [0,1]", i, q);
        size_t m = p->gaps[i].measure;
        cnt[m]++;
        mu[m] += q;
        var[m] += q * (1.0 - q);
    }
    off[0] = 0;
    for (size_t m = 0; m < nm; m++)
        off[m + 1] = off[m] + cnt[m];
    grouped = malloc((p->n_gaps ? p->n_gaps : 1) * sizeof *grouped);
    if (!grouped) return sg_errf(err, errlen, SG_ENOMEM, "evaluate: out of memory");
    {
        size_t pos[PF_MAX_MEASURES];
        memcpy(pos, off, nm * sizeof *pos);
        for (size_t i = 0; i < p->n_gaps; i++)
            grouped[pos[p->gaps[i].measure]++] = pclose[i];
    }
    for (size_t m = 0; m < nm; m++) {
        const struct pf_measure *ms = &p->measures[m];
        pf_star_thresholds(ms, ms->cut, need[m]);
        if (exact || cnt[m] <= PF_NORMAL_ABOVE) {
            double *pmf;
            size_t lo, len;
            if ((rc = pf_poisson_binomial(grouped + off[m], cnt[m], &pmf, &lo, &len))) {
                rc =
                    sg_errf(err, errlen, rc, "evaluate: measure %s: %s", ms->code, sg_strerror(rc));
                goto fail;
            }
            pf_stardist_pmf(ms, need[m], pmf, lo, len, &d[m]);
            free(pmf);
        } else {
            pf_stardist_normal(ms, need[m], mu[m], var[m], &d[m]);
        }
    }
    rc = pf_outcome_fill(p, d, mu, out, err, errlen);
fail:
    free(grouped);
    return rc;
}
