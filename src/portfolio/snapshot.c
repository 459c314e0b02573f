/* snapshot.c: portfolio snapshot aggregation (members, open gaps by measure and risk tier,
 * current and projected stars, estimated value) and the member priority ranking. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "portfolio/internal.h"
#include "portfolio/plan.h"

/* Values of the gaps: the caller's, or computed with pf_marginal_values + pf_gap_values. */
static int gap_values(const struct pf_problem *p, const double *given, double **own,
                      const double **vals, char *err, size_t errlen)
{
    *own = NULL;
    *vals = given;
    if (given) return SG_OK;
    struct pf_marginal mv[PF_MAX_MEASURES];
    int rc = pf_marginal_values(p, mv, err, errlen);
    if (rc) return rc;
    *own = malloc((p->n_gaps ? p->n_gaps : 1) * sizeof **own);
    if (!*own) return sg_errf(err, errlen, SG_ENOMEM, "snapshot: out of memory");
    if ((rc = pf_gap_values(p, mv, *own, NULL, err, errlen))) {
        free(*own);
        *own = NULL;
        return rc;
    }
    *vals = *own;
    return SG_OK;
}

int pf_snapshot_compute(const struct pf_problem *p, const double *gap_value,
                        struct pf_snapshot *out, char *err, size_t errlen)
{
    double *own = NULL;
    const double *val;
    uint8_t *seen = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = pf_problem_check(p, err, errlen))) return rc;
    if ((rc = gap_values(p, gap_value, &own, &val, err, errlen))) return rc;
    uint32_t maxm = 0;
    for (size_t i = 0; i < p->n_gaps; i++)
        if (p->gaps[i].member > maxm) maxm = p->gaps[i].member;
    seen = calloc((size_t)maxm + 1, 1);
    if (!seen) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "snapshot: out of memory");
        goto done;
    }
    double nat[PF_MAX_MEASURES] = {0};
    out->members = p->members;
    for (size_t i = 0; i < p->n_gaps; i++) {
        const struct pf_gap *g = &p->gaps[i];
        out->total_gaps++;
        out->gaps_by_measure[g->measure]++;
        out->gaps_by_tier[g->tier]++;
        out->estimated_value += val[i];
        nat[g->measure] += 1.0 - g->gap_probability;
        if (!seen[g->member]) {
            seen[g->member] = 1;
            out->members_with_gaps++;
        }
    }
    int now[PF_MAX_MEASURES], proj[PF_MAX_MEASURES];
    for (size_t m = 0; m < p->n_measures; m++) {
        const struct pf_measure *ms = &p->measures[m];
        now[m] = pf_star_for_count(ms, ms->compliant);
        proj[m] = pf_star_for_count(ms, ms->compliant + lround(nat[m]));
    }
    if ((rc = p->rater.rate(p->rater.ctx, now, p->n_measures, &out->current)) ||
        (rc = p->rater.rate(p->rater.ctx, proj, p->n_measures, &out->projected))) {
        rc = sg_errf(err, errlen, rc, "rater: failed (%s)", sg_strerror(rc));
        goto done;
    }
    out->star_current = out->current.overall;
    out->star_projected = out->projected.overall;
done:
    free(own);
    free(seen);
    return rc;
}

struct member_total {
    uint32_t member;
    long n;
    double total;
};

static int cmp_total(const void *a, const void *b)
{
    const struct member_total *x = a, *y = b;
    if (x->total != y->total) return x->total > y->total ? -1 : 1;
    return x->member < y->member ? -1 : x->member > y->member;
}

long pf_rank_members(const struct pf_problem *p, const double *gap_value, long min_gaps,
                     size_t limit, uint32_t *member, double *total, long *n_gaps, char *err,
                     size_t errlen)
{
    double *own = NULL;
    const double *val;
    struct member_total *mt = NULL;
    long rc;
    int r;
    if ((r = pf_problem_check(p, err, errlen))) return r;
    if (min_gaps < 0) return sg_errf(err, errlen, SG_EINVAL, "min_gaps: must be >= 0");
    if ((r = gap_values(p, gap_value, &own, &val, err, errlen))) return r;
    uint32_t maxm = 0;
    for (size_t i = 0; i < p->n_gaps; i++)
        if (p->gaps[i].member > maxm) maxm = p->gaps[i].member;
    mt = calloc((size_t)maxm + 1, sizeof *mt);
    if (!mt) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "rank: out of memory");
        goto done;
    }
    for (size_t i = 0; i < p->n_gaps; i++) {
        struct member_total *t = &mt[p->gaps[i].member];
        t->member = p->gaps[i].member;
        t->n++;
        t->total += val[i];
    }
    size_t k = 0;
    for (size_t i = 0; i <= maxm; i++)
        if (mt[i].n > 0 && mt[i].n >= min_gaps) mt[k++] = mt[i];
    qsort(mt, k, sizeof *mt, cmp_total);
    if (k > limit) k = limit;
    for (size_t i = 0; i < k; i++) {
        if (member) member[i] = mt[i].member;
        if (total) total[i] = mt[i].total;
        if (n_gaps) n_gaps[i] = mt[i].n;
    }
    rc = (long)k;
done:
    free(own);
    free(mt);
    return rc;
}
