/* bundle.c: problem validation and the candidate interventions: one per open gap, or, with
 * bundles, a member's gaps that one encounter closes together grouped by the configured rules
 * (the encounter's shared cost is paid once, so a bundle costs less than its singles). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "portfolio/internal.h"
#include "portfolio/plan.h"

void pf_measure_itypes(const struct pf_problem *p, double *success, double *cost)
{
    for (size_t m = 0; m < p->n_measures; m++) {
        const struct pf_itype *t = pf_config_itype(p->cfg, p->measures[m].code);
        success[m] = t ? t->success : 0.0;
        cost[m] = t ? t->cost : 0.0;
    }
}

int pf_problem_check(const struct pf_problem *p, char *err, size_t errlen)
{
    int rc;
    if (!p->cfg) return sg_errf(err, errlen, SG_EINVAL, "config: missing");
    if (!p->rater.rate) return sg_errf(err, errlen, SG_EINVAL, "rater: missing");
    if (p->n_measures == 0 || p->n_measures > PF_MAX_MEASURES)
        return sg_errf(err, errlen, SG_EINVAL, "measures: %zu given, need 1..%d", p->n_measures,
                       PF_MAX_MEASURES);
    if (p->members <= 0)
        return sg_errf(err, errlen, SG_EINVAL, "members: %ld, must be > 0", p->members);
    long open[PF_MAX_MEASURES] = {0};
    for (size_t m = 0; m < p->n_measures; m++) {
        if ((rc = pf_measure_check(&p->measures[m], err, errlen))) return rc;
        for (size_t j = 0; j < m; j++)
            if (!strcmp(p->measures[j].code, p->measures[m].code))
                return sg_errf(err, errlen, SG_ECONFLICT, "measures: %s listed twice",
                               p->measures[m].code);
    }
    if (p->n_gaps && !p->gaps) return sg_errf(err, errlen, SG_EINVAL, "gaps: missing");
    for (size_t i = 0; i < p->n_gaps; i++) {
        const struct pf_gap *g = &p->gaps[i];
        if (g->measure >= p->n_measures)
            return sg_errf(err, errlen, SG_EINVAL, "gaps[%zu].measure: index %u out of range", i,
                           (unsigned)g->measure);
        if (!(g->gap_probability >= 0.0 && g->gap_probability <= 1.0))
            return sg_errf(err, errlen, SG_ERANGE, "gaps[%zu].gap_probability: %g outside [0,1]", i,
                           g->gap_probability);
        if (g->tier >= PF_NTIERS)
            return sg_errf(err, errlen, SG_EINVAL, "gaps[%zu].tier: %u invalid", i,
                           (unsigned)g->tier);
        open[g->measure]++;
    }
    for (size_t m = 0; m < p->n_measures; m++) {
        const struct pf_measure *ms = &p->measures[m];
        if (open[m] > ms->denominator - ms->compliant)
            return sg_errf(err, errlen, SG_EINVAL,
                           "measure %s: %ld open gaps but only %ld non-compliant members", ms->code,
                           open[m], ms->denominator - ms->compliant);
        if (open[m] && !pf_config_itype(p->cfg, ms->code))
            return sg_errf(
                err, errlen, SG_EINVAL,
                "measure %s: has open gaps but no intervention type in the configuration",
                ms->code);
    }
    return SG_OK;
}

/* qsort_r (glibc; _GNU_SOURCE is set project-wide) keeps the comparison context off globals,
 * so concurrent calls from server threads are safe. */
static int cmp_gap(const void *a, const void *b, void *ctx)
{
    const struct pf_gap *gaps = ctx;
    const struct pf_gap *x = &gaps[*(const uint32_t *)a], *y = &gaps[*(const uint32_t *)b];
    if (x->member != y->member) return x->member < y->member ? -1 : 1;
    if (x->measure != y->measure) return x->measure < y->measure ? -1 : 1;
    uint32_t ia = *(const uint32_t *)a, ib = *(const uint32_t *)b;
    return ia < ib ? -1 : ia > ib;
}

/* Sorts gap indices by (member, measure); 1M gaps in ~0.2 s. */
static void sort_by_member(const struct pf_gap *gaps, uint32_t *idx, size_t n)
{
    qsort_r(idx, n, sizeof *idx, cmp_gap, (void *)gaps);
}

int pf_candidates_build(const struct pf_problem *p, int use_bundles, struct pf_candidates *out,
                        char *err, size_t errlen)
{
    int rc;
    uint32_t *order = NULL;
    memset(out, 0, sizeof *out);
    if ((rc = pf_problem_check(p, err, errlen))) return rc;
    if (p->n_gaps > UINT32_MAX - 1)
        return sg_errf(err, errlen, SG_ETOOBIG, "gaps: more than %u", UINT32_MAX - 1);
    double succ[PF_MAX_MEASURES], cost[PF_MAX_MEASURES];
    pf_measure_itypes(p, succ, cost);
    /* rule_of[r][m]: measure m is covered by rule r */
    uint8_t rule_has[PF_MAX_RULES][PF_MAX_MEASURES];
    memset(rule_has, 0, sizeof rule_has);
    size_t n_rules = use_bundles ? p->cfg->n_rules : 0;
    for (size_t r = 0; r < n_rules; r++)
        for (size_t k = 0; k < p->cfg->rules[r].n_measures; k++)
            for (size_t m = 0; m < p->n_measures; m++)
                if (!strcmp(p->cfg->rules[r].measures[k], p->measures[m].code)) rule_has[r][m] = 1;

    size_t n = p->n_gaps;
    order = malloc((n ? n : 1) * sizeof *order);
    out->items = malloc((n ? n : 1) * sizeof *out->items);
    out->gap_index = malloc((n ? n : 1) * sizeof *out->gap_index);
    if (!order || !out->items || !out->gap_index) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "candidates: out of memory for %zu gaps", n);
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = (uint32_t)i;
    sort_by_member(p->gaps, order, n);

    size_t ni = 0, ng = 0;
    for (size_t a = 0; a < n;) {
        size_t b = a;
        uint32_t member = p->gaps[order[a]].member;
        while (b < n && p->gaps[order[b]].member == member)
            b++;
        /* gaps order[a..b) belong to one member; used[] marks those placed in a bundle */
        uint8_t used_small[64];
        uint8_t *used = (b - a) <= sizeof used_small ? used_small : calloc(b - a, 1);
        if (!used) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "candidates: out of memory");
            goto fail;
        }
        memset(used, 0, b - a);
        for (size_t r = 0; r < n_rules; r++) {
            size_t cnt = 0;
            for (size_t j = a; j < b; j++)
                if (!used[j - a] && rule_has[r][p->gaps[order[j]].measure]) cnt++;
            if (cnt < 2) continue;
            struct pf_intervention *it = &out->items[ni++];
            it->member = member;
            it->first = (uint32_t)ng;
            it->n_gaps = (uint32_t)cnt;
            it->rule = (int32_t)r;
            it->cost = -(double)(cnt - 1) * p->cfg->rules[r].shared_cost;
            it->value = it->priority = 0;
            for (size_t j = a; j < b; j++) {
                uint32_t gi = order[j];
                if (used[j - a] || !rule_has[r][p->gaps[gi].measure]) continue;
                used[j - a] = 1;
                out->gap_index[ng++] = gi;
                it->cost += cost[p->gaps[gi].measure];
            }
        }
        for (size_t j = a; j < b; j++) {
            if (used[j - a]) continue;
            uint32_t gi = order[j];
            struct pf_intervention *it = &out->items[ni++];
            it->member = member;
            it->first = (uint32_t)ng;
            it->n_gaps = 1;
            it->rule = -1;
            it->cost = cost[p->gaps[gi].measure];
            it->value = it->priority = 0;
            out->gap_index[ng++] = gi;
        }
        if (used != used_small) free(used);
        a = b;
    }
    out->n = ni;
    free(order);
    return SG_OK;
fail:
    free(order);
    pf_candidates_free(out);
    return rc;
}

void pf_candidates_free(struct pf_candidates *c)
{
    free(c->items);
    free(c->gap_index);
    memset(c, 0, sizeof *c);
}

const char *pf_intervention_type(const struct pf_problem *p, const struct pf_candidates *c,
                                 size_t i)
{
    const struct pf_intervention *it = &c->items[i];
    if (it->rule >= 0) return p->cfg->rules[it->rule].type;
    const struct pf_itype *t =
        pf_config_itype(p->cfg, p->measures[p->gaps[c->gap_index[it->first]].measure].code);
    return t ? t->type : "";
}

size_t pf_intervention_measures(const struct pf_problem *p, const struct pf_candidates *c, size_t i,
                                const char **codes, size_t cap)
{
    const struct pf_intervention *it = &c->items[i];
    uint64_t seen[(PF_MAX_MEASURES + 63) / 64] = {0};
    size_t n = 0;
    for (uint32_t t = 0; t < it->n_gaps; t++) {
        size_t m = p->gaps[c->gap_index[it->first + t]].measure;
        if (seen[m / 64] & (1ULL << (m % 64))) continue;
        seen[m / 64] |= 1ULL << (m % 64);
        if (n < cap) codes[n] = p->measures[m].code;
        n++;
    }
    return n;
}
