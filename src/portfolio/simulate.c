/* simulate.c: scenario simulation. A scenario (closure rates per measure, a named strategy, or a
 * list of interventions) becomes one closure probability per open gap; from those come the
 * projected rates and stars, the exact Poisson-binomial distribution of each measure's closures,
 * a seeded Monte Carlo over member-level draws (which the tests check against the exact
 * distribution), the overall rating's distribution, cut-point uncertainty (this year's cut
 * points moved by the guardrail in both directions), revenue, investment and ROI. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "portfolio/internal.h"
#include "portfolio/plan.h"

#define SIM_MAX_RUNS 1000000L

static const char *const strategy_names[] = {"closure", "triple_weighted", "balanced", "optimizer",
                                             "interventions"};

const char *pf_strategy_name(enum pf_strategy s)
{
    return (unsigned)s < sizeof strategy_names / sizeof *strategy_names ? strategy_names[s] : "?";
}

int pf_strategy_parse(const char *name, enum pf_strategy *out, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof strategy_names / sizeof *strategy_names; i++)
        if (name && !strcmp(name, strategy_names[i])) {
            *out = (enum pf_strategy)i;
            return SG_OK;
        }
    return sg_errf(err, errlen, SG_EINVAL,
                   "strategy: unknown '%s' (expected triple_weighted, balanced, optimizer, closure "
                   "or interventions)",
                   name ? name : "");
}

/* Per-candidate value (dollars) with the marginal values of pf_marginal_values. */
static int candidate_values(const struct pf_problem *p, const struct pf_candidates *c, double *val,
                            int *prim, char *err, size_t errlen)
{
    struct pf_marginal mv[PF_MAX_MEASURES];
    double succ[PF_MAX_MEASURES], cost[PF_MAX_MEASURES];
    int rc = pf_marginal_values(p, mv, err, errlen);
    if (rc) return rc;
    pf_measure_itypes(p, succ, cost);
    for (size_t i = 0; i < c->n; i++) {
        const struct pf_intervention *it = &c->items[i];
        double v = 0, bw = -1;
        prim[i] = 0;
        for (uint32_t t = 0; t < it->n_gaps; t++) {
            const struct pf_gap *g = &p->gaps[c->gap_index[it->first + t]];
            double gv = succ[g->measure] * g->gap_probability * mv[g->measure].value;
            v += gv;
            double w = p->measures[g->measure].weight * succ[g->measure] * g->gap_probability;
            if (w > bw) {
                bw = w;
                prim[i] = g->measure;
            }
        }
        /* a tiny weight-based term orders gaps whose dollar value is zero */
        val[i] = v + 1e-9 * bw;
    }
    return SG_OK;
}

static int cmp_desc(const void *a, const void *b, void *ctx)
{
    const double *sim_key = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (sim_key[x] != sim_key[y]) return sim_key[x] > sim_key[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Builds the worked mask of TRIPLE_WEIGHTED and BALANCED. */
static int strategy_mask(const struct pf_problem *p, const struct pf_candidates *c,
                         const struct pf_scenario *s, uint8_t *mask, char *err, size_t errlen)
{
    size_t n = c->n;
    double *val = malloc((n ? n : 1) * sizeof *val);
    int *prim = malloc((n ? n : 1) * sizeof *prim);
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    int rc = SG_OK;
    if (!val || !prim || !ord) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "simulate: out of memory");
        goto done;
    }
    if ((rc = candidate_values(p, c, val, prim, err, errlen))) goto done;
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    qsort_r(ord, n, sizeof *ord, cmp_desc, val);
    memset(mask, 0, n ? n : 1);
    if (s->strategy == PF_STRATEGY_TRIPLE_WEIGHTED) {
        double left = s->budget > 0 ? s->budget : INFINITY;
        for (size_t j = 0; j < n; j++) {
            const struct pf_intervention *it = &c->items[ord[j]];
            int triple = 0;
            for (uint32_t t = 0; t < it->n_gaps; t++)
                if (p->measures[p->gaps[c->gap_index[it->first + t]].measure].weight >= 3.0)
                    triple = 1;
            if (!triple || it->cost > left + 1e-9) continue;
            mask[ord[j]] = 1;
            left -= it->cost;
        }
    } else { /* BALANCED: an equal share per measure with open gaps, then the leftover by value */
        double share[PF_MAX_MEASURES] = {0};
        size_t with[PF_MAX_MEASURES] = {0}, nwith = 0;
        for (size_t i = 0; i < n; i++)
            with[prim[i]]++;
        for (size_t m = 0; m < p->n_measures; m++)
            nwith += with[m] > 0;
        for (size_t m = 0; m < p->n_measures; m++)
            share[m] = with[m] && nwith ? s->budget / (double)nwith : 0.0;
        double left = s->budget;
        for (size_t j = 0; j < n; j++) {
            const struct pf_intervention *it = &c->items[ord[j]];
            if (it->cost > share[prim[ord[j]]] + 1e-9) continue;
            mask[ord[j]] = 1;
            share[prim[ord[j]]] -= it->cost;
            left -= it->cost;
        }
        for (size_t j = 0; j < n; j++) {
            const struct pf_intervention *it = &c->items[ord[j]];
            if (mask[ord[j]] || it->cost > left + 1e-9) continue;
            mask[ord[j]] = 1;
            left -= it->cost;
        }
    }
done:
    free(val);
    free(prim);
    free(ord);
    return rc;
}

static int check_scenario(const struct pf_problem *p, const struct pf_candidates *c,
                          const struct pf_scenario *s, char *err, size_t errlen)
{
    if (s->runs < 0 || s->runs > SIM_MAX_RUNS)
        return sg_errf(err, errlen, SG_ERANGE, "runs: %ld outside [0,%ld]", s->runs, SIM_MAX_RUNS);
    switch (s->strategy) {
    case PF_STRATEGY_CLOSURE: {
        if (!s->closure_rate)
            return sg_errf(err, errlen, SG_EINVAL, "closure_rate: required for strategy closure");
        int any = 0;
        for (size_t m = 0; m < p->n_measures; m++) {
            double r = s->closure_rate[m];
            if (isnan(r)) continue;
            if (!(r >= 0.0 && r <= 1.0))
                return sg_errf(err, errlen, SG_ERANGE, "closure_rate[%s]: %g outside [0,1]",
                               p->measures[m].code, r);
            any = 1;
        }
        if (!any) return sg_errf(err, errlen, SG_EINVAL, "closure_rate: no measure given");
        return SG_OK;
    }
    case PF_STRATEGY_BALANCED:
    case PF_STRATEGY_OPTIMIZER:
        if (!(s->budget > 0) || !isfinite(s->budget))
            return sg_errf(err, errlen, SG_EINVAL,
                           "budget: must be a positive amount for strategy %s",
                           pf_strategy_name(s->strategy));
        break;
    case PF_STRATEGY_TRIPLE_WEIGHTED:
        if (isnan(s->budget) || isinf(s->budget))
            return sg_errf(err, errlen, SG_EINVAL, "budget: not a number");
        break;
    case PF_STRATEGY_INTERVENTIONS:
        if (!c) break;
        if (s->n_interventions && !s->interventions)
            return sg_errf(err, errlen, SG_EINVAL, "interventions: missing");
        for (size_t j = 0; j < s->n_interventions; j++)
            if (s->interventions[j] >= c->n)
                return sg_errf(err, errlen, SG_EINVAL, "interventions[%zu]: index %zu out of range",
                               j, s->interventions[j]);
        break;
    default: return sg_errf(err, errlen, SG_EINVAL, "strategy: unknown value %d", (int)s->strategy);
    }
    if (!c)
        return sg_errf(err, errlen, SG_EINVAL, "candidates: required for strategy %s",
                       pf_strategy_name(s->strategy));
    return SG_OK;
}

/* Star of the count `k` with cut points shifted by `shift` in the direction that makes the
 * measure harder (shift > 0) or easier (shift < 0). */
static int shifted_star(const struct pf_measure *m, double rate, double shift)
{
    double cut[4];
    for (int k = 0; k < 4; k++)
        cut[k] = m->lower_is_better ? m->cut[k] - shift : m->cut[k] + shift;
    return pf_star_for_rate(m, cut, rate);
}

void pf_sim_result_free(struct pf_sim_result *r)
{
    for (size_t m = 0; m < PF_MAX_MEASURES; m++) {
        free(r->m[m].pmf);
        r->m[m].pmf = NULL;
    }
}

int pf_simulate(const struct pf_problem *p, const struct pf_candidates *c,
                const struct pf_scenario *s, struct pf_sim_result *out, char *err, size_t errlen)
{
    size_t ng = p->n_gaps, nm = p->n_measures;
    double *pbase = NULL, *pproj = NULL, *grouped = NULL;
    uint8_t *mask = NULL, *member_hit = NULL;
    uint8_t *gap_worked = NULL;
    double succ[PF_MAX_MEASURES], cost[PF_MAX_MEASURES];
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = pf_problem_check(p, err, errlen))) return rc;
    if ((rc = check_scenario(p, c, s, err, errlen))) return rc;
    out->strategy = s->strategy;
    out->n_measures = nm;
    out->runs = s->runs;
    pf_measure_itypes(p, succ, cost);
    pbase = malloc((ng ? ng : 1) * sizeof *pbase);
    pproj = malloc((ng ? ng : 1) * sizeof *pproj);
    grouped = malloc((ng ? ng : 1) * sizeof *grouped);
    gap_worked = calloc(ng ? ng : 1, 1);
    if (c) mask = calloc(c->n ? c->n : 1, 1);
    if (!pbase || !pproj || !grouped || !gap_worked || (c && !mask)) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "simulate: out of memory");
        goto fail;
    }
    pf_closure_probs(p, NULL, NULL, pbase);

    /* the scenario's closure probabilities and investment */
    if (s->strategy == PF_STRATEGY_CLOSURE) {
        long open[PF_MAX_MEASURES] = {0};
        for (size_t i = 0; i < ng; i++) {
            const struct pf_gap *g = &p->gaps[i];
            double r = s->closure_rate[g->measure];
            open[g->measure]++;
            if (isnan(r)) {
                pproj[i] = pbase[i];
                continue;
            }
            pproj[i] = 1.0 - g->gap_probability * (1.0 - r);
            if (r > 0) gap_worked[i] = 1;
        }
        for (size_t m = 0; m < nm; m++) {
            double r = s->closure_rate[m];
            if (isnan(r) || r <= 0) continue;
            /* attempts needed on average for the rate: r / success per open gap, at most one */
            double share = succ[m] > 0 ? fmin(1.0, r / succ[m]) : 1.0;
            out->investment += (double)open[m] * share * cost[m];
            out->m[m].gaps_worked = lround((double)open[m] * share);
        }
    } else {
        if (s->strategy == PF_STRATEGY_INTERVENTIONS) {
            for (size_t j = 0; j < s->n_interventions; j++) {
                if (mask[s->interventions[j]]) {
                    rc = sg_errf(err, errlen, SG_EINVAL,
                                 "interventions[%zu]: index %zu listed twice", j,
                                 s->interventions[j]);
                    goto fail;
                }
                mask[s->interventions[j]] = 1;
            }
        } else if (s->strategy == PF_STRATEGY_OPTIMIZER) {
            struct pf_opt_params prm = {s->budget, 0, s->objective, 0, 0};
            struct pf_opt_result r;
            if ((rc = pf_optimize(p, c, &prm, &r, err, errlen))) goto fail;
            for (size_t j = 0; j < r.plan.n_chosen; j++)
                mask[r.plan.chosen[j]] = 1;
            pf_opt_result_free(&r);
        } else if ((rc = strategy_mask(p, c, s, mask, err, errlen))) {
            goto fail;
        }
        pf_closure_probs(p, c, mask, pproj);
        for (size_t i = 0; i < c->n; i++) {
            if (!mask[i]) continue;
            const struct pf_intervention *it = &c->items[i];
            out->investment += it->cost;
            out->n_worked++;
            for (uint32_t t = 0; t < it->n_gaps; t++) {
                uint32_t g = c->gap_index[it->first + t];
                gap_worked[g] = 1;
                out->m[p->gaps[g].measure].gaps_worked++;
            }
        }
    }

    /* members impacted: distinct members with a worked gap */
    uint32_t maxm = 0;
    for (size_t i = 0; i < ng; i++)
        if (p->gaps[i].member > maxm) maxm = p->gaps[i].member;
    member_hit = calloc((size_t)maxm + 1, 1);
    if (!member_hit) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "simulate: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ng; i++)
        if (gap_worked[i] && !member_hit[p->gaps[i].member]) {
            member_hit[p->gaps[i].member] = 1;
            out->members_impacted++;
        }

    /* exact distributions per measure, base and projected */
    size_t cnt[PF_MAX_MEASURES] = {0}, off[PF_MAX_MEASURES + 1];
    double mub[PF_MAX_MEASURES] = {0}, mup[PF_MAX_MEASURES] = {0};
    for (size_t i = 0; i < ng; i++) {
        cnt[p->gaps[i].measure]++;
        mub[p->gaps[i].measure] += pbase[i];
        mup[p->gaps[i].measure] += pproj[i];
        out->gaps_closed += pproj[i] - pbase[i];
    }
    off[0] = 0;
    for (size_t m = 0; m < nm; m++)
        off[m + 1] = off[m] + cnt[m];
    struct pf_stardist db[PF_MAX_MEASURES], dp[PF_MAX_MEASURES];
    int st_now[PF_MAX_MEASURES], st_base[PF_MAX_MEASURES], st_proj[PF_MAX_MEASURES];
    int st_easy[PF_MAX_MEASURES], st_hard[PF_MAX_MEASURES];
    for (int pass = 0; pass < 2; pass++) {
        const double *src = pass ? pproj : pbase;
        size_t pos[PF_MAX_MEASURES];
        memcpy(pos, off, nm * sizeof *pos);
        for (size_t i = 0; i < ng; i++)
            grouped[pos[p->gaps[i].measure]++] = src[i];
        for (size_t m = 0; m < nm; m++) {
            const struct pf_measure *ms = &p->measures[m];
            long need[6];
            double *pmf;
            size_t lo, len;
            pf_star_thresholds(ms, ms->cut, need);
            if ((rc = pf_poisson_binomial(grouped + off[m], cnt[m], &pmf, &lo, &len))) {
                rc =
                    sg_errf(err, errlen, rc, "simulate: measure %s: %s", ms->code, sg_strerror(rc));
                goto fail;
            }
            pf_stardist_pmf(ms, need, pmf, lo, len, pass ? &dp[m] : &db[m]);
            if (pass) {
                out->m[m].pmf = pmf;
                out->m[m].pmf_lo = lo;
                out->m[m].pmf_len = len;
            } else {
                free(pmf);
            }
        }
    }
    for (size_t m = 0; m < nm; m++) {
        const struct pf_measure *ms = &p->measures[m];
        struct pf_sim_measure *sm = &out->m[m];
        sm->open_gaps = (long)cnt[m];
        sm->exp_closed_base = mub[m];
        sm->exp_closed_proj = mup[m];
        sm->rate_now = pf_rate(ms, ms->compliant);
        double den = (double)ms->denominator;
        double cb = (double)ms->compliant + mub[m], cp = (double)ms->compliant + mup[m];
        sm->rate_base =
            den > 0 ? (ms->lower_is_better ? 100.0 * (den - cb) / den : 100.0 * cb / den) : 0;
        sm->rate_proj =
            den > 0 ? (ms->lower_is_better ? 100.0 * (den - cp) / den : 100.0 * cp / den) : 0;
        sm->star_now = st_now[m] = pf_star_for_count(ms, ms->compliant);
        sm->star_base = st_base[m] = pf_star_for_count(ms, ms->compliant + lround(mub[m]));
        sm->star_proj = st_proj[m] = pf_star_for_count(ms, ms->compliant + lround(mup[m]));
        double rp = pf_rate(ms, ms->compliant + lround(mup[m]));
        sm->star_easy = st_easy[m] = den > 0 ? shifted_star(ms, rp, -ms->guardrail) : 0;
        sm->star_hard = st_hard[m] = den > 0 ? shifted_star(ms, rp, ms->guardrail) : 0;
        for (int k = 0; k <= 5; k++) {
            sm->exact_p_star[k] = dp[m].p[k];
            sm->exp_star_proj += k * dp[m].p[k];
        }
    }
    if ((rc = p->rater.rate(p->rater.ctx, st_now, nm, &out->now)) ||
        (rc = p->rater.rate(p->rater.ctx, st_base, nm, &out->base)) ||
        (rc = p->rater.rate(p->rater.ctx, st_proj, nm, &out->proj)) ||
        (rc = p->rater.rate(p->rater.ctx, st_easy, nm, &out->proj_easy)) ||
        (rc = p->rater.rate(p->rater.ctx, st_hard, nm, &out->proj_hard))) {
        rc = sg_errf(err, errlen, rc, "rater: failed (%s)", sg_strerror(rc));
        goto fail;
    }
    if ((rc = pf_outcome_fill(p, db, mub, &out->exact_base, err, errlen)) ||
        (rc = pf_outcome_fill(p, dp, mup, &out->exact_proj, err, errlen)))
        goto fail;
    out->revenue_base = out->exact_base.exp_revenue;
    out->revenue_proj = out->exact_proj.exp_revenue;
    out->revenue_impact = out->revenue_proj - out->revenue_base;
    out->roi = out->investment > 0 ? out->revenue_impact / out->investment : 0.0;

    /* Monte Carlo over member-level draws */
    if (s->runs > 0) {
        struct sg_rng rng;
        long counts[PF_MAX_MEASURES];
        int stars[PF_MAX_MEASURES];
        double sum_closed[PF_MAX_MEASURES] = {0};
        sg_rng_seed(&rng, s->seed);
        for (long run = 0; run < s->runs; run++) {
            for (size_t m = 0; m < nm; m++)
                counts[m] = 0;
            for (size_t i = 0; i < ng; i++)
                if (sg_rng_uniform(&rng) < pproj[i]) counts[p->gaps[i].measure]++;
            for (size_t m = 0; m < nm; m++) {
                stars[m] = pf_star_for_count(&p->measures[m], p->measures[m].compliant + counts[m]);
                out->m[m].mc_p_star[stars[m]] += 1.0;
                sum_closed[m] += (double)counts[m];
            }
            struct pf_ratings r;
            if ((rc = p->rater.rate(p->rater.ctx, stars, nm, &r))) {
                rc = sg_errf(err, errlen, rc, "rater: failed (%s)", sg_strerror(rc));
                goto fail;
            }
            int h = (int)lround(r.overall * 2.0);
            out->mc_overall[h < 0 ? 0 : h > 10 ? 10 : h] += 1.0;
            out->mc_exp_overall += r.overall;
        }
        double R = (double)s->runs;
        for (size_t m = 0; m < nm; m++) {
            for (int k = 0; k <= 5; k++)
                out->m[m].mc_p_star[k] /= R;
            out->m[m].mc_mean_closures = sum_closed[m] / R;
        }
        for (int i = 0; i <= 10; i++)
            out->mc_overall[i] /= R;
        for (int i = 8; i <= 10; i++)
            out->mc_p_ge4 += out->mc_overall[i];
        out->mc_exp_overall /= R;
    }
    rc = SG_OK;
    goto done;
fail:
    pf_sim_result_free(out);
done:
    free(pbase);
    free(pproj);
    free(grouped);
    free(mask);
    free(member_hit);
    free(gap_worked);
    return rc;
}
