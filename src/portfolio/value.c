/* value.c: the marginal value of one gap closure and each gap's estimated value and priority.
 *
 * A single closure rarely moves a measure's star by itself, so its value is amortized: from the
 * reference count, for each higher star level the measure's open gaps can reach, value of
 * reaching it (the change in smoothed revenue of the overall rating, through the rater) divided
 * by the closures it takes; the best level per closure is used (the slope to the upper concave
 * envelope of the step function). estimated_value = success x gap_probability x that value. */
#include <math.h>
#include <string.h>

#include "portfolio/internal.h"
#include "portfolio/plan.h"

int pf_marginal_value_at(const struct pf_problem *p, size_t mi, long count, const int *stars,
                         long max_closures, struct pf_marginal *out, char *err, size_t errlen)
{
    const struct pf_measure *m = &p->measures[mi];
    int st[PF_MAX_MEASURES];
    long need[6];
    struct pf_ratings r0, r1;
    int rc;
    memset(out, 0, sizeof *out);
    if (mi >= p->n_measures) return sg_errf(err, errlen, SG_EINVAL, "measure index %zu", mi);
    if (count < 0 || count > m->denominator)
        return sg_errf(err, errlen, SG_ERANGE, "measure %s: count %ld outside [0,%ld]", m->code,
                       count, m->denominator);
    memcpy(st, stars, p->n_measures * sizeof *st);
    st[mi] = pf_star_for_count(m, count);
    out->star_now = st[mi];
    if ((rc = p->rater.rate(p->rater.ctx, st, p->n_measures, &r0)))
        return sg_errf(err, errlen, rc, "rater: failed (%s)", sg_strerror(rc));
    if (st[mi] == 0 || st[mi] >= 5) return SG_OK;
    pf_star_thresholds(m, m->cut, need);
    double m0 = pf_econ_smooth_revenue(&p->cfg->econ, r0.overall_raw, p->members);
    double best = -1.0, best_overall = -1.0;
    for (int t = st[mi] + 1; t <= 5; t++) {
        long k = need[t] - count;
        if (need[t] > m->denominator || k <= 0 || k > max_closures) continue;
        st[mi] = t;
        if ((rc = p->rater.rate(p->rater.ctx, st, p->n_measures, &r1)))
            return sg_errf(err, errlen, rc, "rater: failed (%s)", sg_strerror(rc));
        double v =
            (pf_econ_smooth_revenue(&p->cfg->econ, r1.overall_raw, p->members) - m0) / (double)k;
        double ov = (r1.overall_raw - r0.overall_raw) / (double)k;
        /* best dollars per closure; the overall gain breaks ties (e.g. a zero economic value) */
        if (v > best + 1e-9 || (fabs(v - best) <= 1e-9 && ov > best_overall)) {
            best = v;
            best_overall = ov;
            out->star_target = t;
            out->closures_needed = k;
            out->star_gain = (double)(t - out->star_now) / (double)k;
            out->part_c_gain = (r1.part_c_raw - r0.part_c_raw) / (double)k;
            out->part_d_gain = (r1.part_d_raw - r0.part_d_raw) / (double)k;
            out->overall_gain = ov;
            out->value = v > 0 ? v : 0.0;
        }
    }
    return SG_OK;
}

int pf_marginal_values(const struct pf_problem *p, struct pf_marginal *out, char *err,
                       size_t errlen)
{
    int rc;
    double nat[PF_MAX_MEASURES] = {0}, open_left[PF_MAX_MEASURES] = {0};
    long ref[PF_MAX_MEASURES];
    int stars[PF_MAX_MEASURES];
    if ((rc = pf_problem_check(p, err, errlen))) return rc;
    for (size_t i = 0; i < p->n_gaps; i++) {
        nat[p->gaps[i].measure] += 1.0 - p->gaps[i].gap_probability;
        open_left[p->gaps[i].measure] += p->gaps[i].gap_probability;
    }
    for (size_t m = 0; m < p->n_measures; m++) {
        const struct pf_measure *ms = &p->measures[m];
        ref[m] = ms->compliant + lround(nat[m]);
        if (ref[m] > ms->denominator) ref[m] = ms->denominator;
        stars[m] = pf_star_for_count(ms, ref[m]);
    }
    for (size_t m = 0; m < p->n_measures; m++)
        if ((rc = pf_marginal_value_at(p, m, ref[m], stars, lround(open_left[m]), &out[m], err,
                                       errlen)))
            return rc;
    return SG_OK;
}

int pf_gap_values(const struct pf_problem *p, const struct pf_marginal *mv, double *value,
                  double *priority, char *err, size_t errlen)
{
    double succ[PF_MAX_MEASURES], cost[PF_MAX_MEASURES], best = 0.0;
    int rc;
    if ((rc = pf_problem_check(p, err, errlen))) return rc;
    pf_measure_itypes(p, succ, cost);
    for (size_t i = 0; i < p->n_gaps; i++) {
        const struct pf_gap *g = &p->gaps[i];
        double v = succ[g->measure] * g->gap_probability * mv[g->measure].value;
        if (value) value[i] = v;
        double ratio = v / cost[g->measure];
        if (ratio > best) best = ratio;
    }
    if (priority)
        for (size_t i = 0; i < p->n_gaps; i++) {
            const struct pf_gap *g = &p->gaps[i];
            double v = succ[g->measure] * g->gap_probability * mv[g->measure].value;
            priority[i] = best > 0 ? 100.0 * (v / cost[g->measure]) / best : 0.0;
        }
    return SG_OK;
}

void pf_candidates_value(const struct pf_problem *p, const struct pf_marginal *mv,
                         struct pf_candidates *c)
{
    double succ[PF_MAX_MEASURES], cost[PF_MAX_MEASURES], best = 0.0;
    pf_measure_itypes(p, succ, cost);
    for (size_t i = 0; i < c->n; i++) {
        struct pf_intervention *it = &c->items[i];
        double v = 0.0;
        for (uint32_t j = 0; j < it->n_gaps; j++) {
            const struct pf_gap *g = &p->gaps[c->gap_index[it->first + j]];
            v += succ[g->measure] * g->gap_probability * mv[g->measure].value;
        }
        it->value = v;
        if (it->cost > 0 && v / it->cost > best) best = v / it->cost;
    }
    for (size_t i = 0; i < c->n; i++) {
        struct pf_intervention *it = &c->items[i];
        it->priority = best > 0 && it->cost > 0 ? 100.0 * (it->value / it->cost) / best : 0.0;
    }
}
