/* measure.c: measure-star arithmetic (display rounding, cut-point bands in both directions,
 * count thresholds), half-star rounding, and the weighted-mean test rater. These follow
 * METHODOLOGY.md sections 2.1, 2.3 and 5.6; the real summary/overall rating (reward factor, CAI,
 * hold-harmless) comes from the Star Ratings engine through struct pf_rater. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "portfolio/portfolio.h"

double pf_round_display(double rate, int precision)
{
    double scale = 1.0;
    for (int i = 0; i < precision; i++)
        scale *= 10.0;
    /* the small epsilon absorbs binary error in 100*c/den (e.g. 83.4999999999 for 83.5) */
    return floor(rate * scale + 0.5 + 1e-9) / scale;
}

double pf_round_half_star(double raw)
{
    double r6 = floor(raw * 1e6 + 0.5) / 1e6;
    double h = floor(2.0 * r6 + 0.5 + 1e-9) / 2.0;
    return h > 5.0 ? 5.0 : h;
}

double pf_rate(const struct pf_measure *m, long compliant)
{
    if (m->denominator <= 0) return 0.0;
    double c = (double)compliant, d = (double)m->denominator;
    return m->lower_is_better ? 100.0 * (d - c) / d : 100.0 * c / d;
}

int pf_star_for_rate(const struct pf_measure *m, const double cut[4], double rate)
{
    double r = pf_round_display(rate, m->precision);
    int star = 1;
    for (int k = 0; k < 4; k++) {
        if (m->lower_is_better ? r <= cut[k] : r >= cut[k])
            star = k + 2;
        else
            break;
    }
    return star;
}

int pf_star_for_count(const struct pf_measure *m, long compliant)
{
    if (m->denominator <= 0) return 0;
    return pf_star_for_rate(m, m->cut, pf_rate(m, compliant));
}

void pf_star_thresholds(const struct pf_measure *m, const double cut[4], long need[6])
{
    need[0] = need[1] = 0;
    for (int k = 2; k <= 5; k++) {
        /* the star is monotone non-decreasing in the compliant count: binary search */
        long lo = 0, hi = m->denominator + 1;
        while (lo < hi) {
            long mid = lo + (hi - lo) / 2;
            if (pf_star_for_rate(m, cut, pf_rate(m, mid)) >= k)
                hi = mid;
            else
                lo = mid + 1;
        }
        need[k] = lo;
    }
}

int pf_measure_check(const struct pf_measure *m, char *err, size_t errlen)
{
    const char *c = m->code[0] ? m->code : "(unnamed)";
    if (!m->code[0]) return sg_errf(err, errlen, SG_EINVAL, "measure: code is empty");
    if (m->part != 'C' && m->part != 'D')
        return sg_errf(err, errlen, SG_EINVAL, "measure %s: part must be C or D", c);
    if (!(m->weight >= 0.0) || m->weight > 10.0)
        return sg_errf(err, errlen, SG_ERANGE, "measure %s: weight %g outside [0,10]", c,
                       m->weight);
    if (m->precision < 0 || m->precision > 6)
        return sg_errf(err, errlen, SG_ERANGE, "measure %s: precision %d outside [0,6]", c,
                       m->precision);
    if (m->denominator < 0)
        return sg_errf(err, errlen, SG_ERANGE, "measure %s: denominator %ld is negative", c,
                       m->denominator);
    if (m->compliant < 0 || m->compliant > m->denominator)
        return sg_errf(err, errlen, SG_ERANGE,
                       "measure %s: numerator %ld outside [0, denominator %ld]", c, m->compliant,
                       m->denominator);
    if (!(m->guardrail >= 0.0))
        return sg_errf(err, errlen, SG_ERANGE, "measure %s: guardrail must be >= 0", c);
    for (int k = 0; k < 4; k++) {
        if (!isfinite(m->cut[k]))
            return sg_errf(err, errlen, SG_EINVAL, "measure %s: cut point %d is not a number", c,
                           k + 2);
        if (k > 0 && (m->lower_is_better ? m->cut[k] > m->cut[k - 1] : m->cut[k] < m->cut[k - 1]))
            return sg_errf(err, errlen, SG_EINVAL,
                           "measure %s: cut points must be %s (star %d: %g after %g)", c,
                           m->lower_is_better ? "non-increasing" : "non-decreasing", k + 2,
                           m->cut[k], m->cut[k - 1]);
    }
    return SG_OK;
}

int pf_testrater_rate(void *ctx, const int *stars, size_t n, struct pf_ratings *out)
{
    const struct pf_testrater *t = ctx;
    double cw = t->other_c_w, cs = t->other_c_wsum, dw = t->other_d_w, ds = t->other_d_wsum;
    memset(out, 0, sizeof *out);
    if (n != t->n) return SG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (stars[i] < 0 || stars[i] > 5) return SG_EINVAL;
        if (!stars[i]) continue;
        double w = t->measures[i].weight;
        if (t->measures[i].part == 'C') {
            cw += w;
            cs += w * stars[i];
        } else {
            dw += w;
            ds += w * stars[i];
        }
    }
    if (cw > 0) {
        out->part_c_raw = cs / cw;
        out->part_c = pf_round_half_star(out->part_c_raw);
    }
    if (dw > 0) {
        out->part_d_raw = ds / dw;
        out->part_d = pf_round_half_star(out->part_d_raw);
    }
    if (cw + dw > 0) {
        out->overall_raw = (cs + ds) / (cw + dw);
        out->overall = pf_round_half_star(out->overall_raw);
    }
    return SG_OK;
}
