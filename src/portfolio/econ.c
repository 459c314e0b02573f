/* econ.c: the quality-bonus and rebate arithmetic of Medicare Advantage payment (42 CFR 422.258
 * and 422.266; defaults and sources in data/portfolio/economics.conf and docs/PORTFOLIO.md).
 * The quality bonus raises the benchmark; the plan receives its bid plus the rebate share of the
 * difference between the (bonus-raised) benchmark and the bid. */
#include <math.h>
#include <string.h>

#include "portfolio/portfolio.h"

static double table_lookup(const double *mins, const double *pcts, size_t n, double rating)
{
    double pct = 0.0;
    for (size_t i = 0; i < n; i++)
        if (rating + 1e-9 >= mins[i]) pct = pcts[i];
    return pct;
}

double pf_econ_bonus_pct(const struct pf_econ *e, double rating)
{
    double p = table_lookup(e->bonus_min, e->bonus_pct, e->n_bonus, rating);
    return e->double_bonus ? 2.0 * p : p;
}

double pf_econ_rebate_pct(const struct pf_econ *e, double rating)
{
    return table_lookup(e->rebate_min, e->rebate_pct, e->n_rebate, rating);
}

void pf_econ_revenue(const struct pf_econ *e, double rating, long members, struct pf_revenue *out)
{
    memset(out, 0, sizeof *out);
    out->bonus_pct = pf_econ_bonus_pct(e, rating);
    out->rebate_pct = pf_econ_rebate_pct(e, rating);
    double bench = e->benchmark_pmpm * (1.0 + out->bonus_pct / 100.0) * e->risk_score;
    double bid = e->bid_pmpm * e->risk_score;
    if (bid < bench) {
        out->rebate_pmpm = out->rebate_pct / 100.0 * (bench - bid);
        out->payment_pmpm = bid + out->rebate_pmpm;
    } else {
        out->payment_pmpm = bench; /* the excess bid is charged to members as a premium */
    }
    out->benchmark_pmpm = bench;
    out->annual = out->payment_pmpm * 12.0 * (double)members;
}

double pf_econ_smooth_revenue(const struct pf_econ *e, double raw, long members)
{
    struct pf_revenue lo, hi;
    if (raw <= 1.0) raw = 1.0;
    if (raw >= 5.0) raw = 5.0;
    double a = floor(raw * 2.0) / 2.0, b = a + 0.5;
    if (b > 5.0) b = 5.0;
    pf_econ_revenue(e, a, members, &lo);
    if (b == a) return lo.annual;
    pf_econ_revenue(e, b, members, &hi);
    return lo.annual + (raw - a) / 0.5 * (hi.annual - lo.annual);
}

int pf_econ_check(const struct pf_econ *e, char *err, size_t errlen)
{
    if (!(e->benchmark_pmpm > 0))
        return sg_errf(err, errlen, SG_ERANGE, "economics: benchmark_pmpm must be > 0");
    if (!(e->bid_pmpm > 0))
        return sg_errf(err, errlen, SG_ERANGE, "economics: bid_pmpm must be > 0");
    if (!(e->risk_score > 0))
        return sg_errf(err, errlen, SG_ERANGE, "economics: risk_score must be > 0");
    if (e->n_bonus > PF_MAX_LEVELS || e->n_rebate > PF_MAX_LEVELS)
        return sg_errf(err, errlen, SG_ETOOBIG, "economics: too many bonus/rebate rows");
    for (size_t i = 0; i < e->n_bonus; i++)
        if (e->bonus_pct[i] < 0 || e->bonus_pct[i] > 100 ||
            (i && e->bonus_min[i] <= e->bonus_min[i - 1]))
            return sg_errf(err, errlen, SG_EINVAL, "economics: bonus row %zu invalid", i + 1);
    for (size_t i = 0; i < e->n_rebate; i++)
        if (e->rebate_pct[i] < 0 || e->rebate_pct[i] > 100 ||
            (i && e->rebate_min[i] <= e->rebate_min[i - 1]))
            return sg_errf(err, errlen, SG_EINVAL, "economics: rebate row %zu invalid", i + 1);
    return SG_OK;
}
