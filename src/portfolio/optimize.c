/* optimize.c: the budget optimizer.
 *
 * The objective (E[raw overall rating], or E[annual revenue at the published rating]) is a
 * non-linear function of all measures' closure counts: stars jump at the cut points and the
 * overall is a function of all stars. It is handled in two layers:
 *
 * 1. Conditional linearization. For each measure m and star k, v[m][k] = E[U | star_m = k], the
 *    expectation running over the other measures' star distributions (through the rater, by
 *    enumeration). The objective becomes separable: sum_m E[v[m][star_m]], where star_m's
 *    distribution follows from the measure's closure count (exact Poisson-binomial for small
 *    problems, a continuity-corrected normal otherwise). For the revenue objective U is the
 *    smoothed revenue (linear between half-star levels) so that moves toward a rating boundary
 *    are visible before it is crossed.
 * 2. Greedy with lookahead over per-measure lists. Each candidate belongs to the list of its
 *    primary measure, sorted by weighted closure gain per dollar. A list's best "run" is the
 *    prefix (1, 2, 4, ... items, and the largest affordable) with the best gain per dollar: runs
 *    look past the flat part of the step function to the next cut point. The best run over all
 *    lists is committed (half of it when longer than one, then re-evaluated); in the concave
 *    part single items are committed while they beat every other list.
 * The linearization is recomputed around the plan found and the greedy re-run (3 rounds); the
 * plan with the best evaluated objective is kept. Tests compare with exhaustive search. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "portfolio/internal.h"
#include "portfolio/plan.h"

#define OPT_EXACT_MAX 256 /* problems with at most this many gaps use exact distributions */
#define OPT_ROUNDS 3
#define OPT_MAX_AFF 8
#define OPT_POLISH_MAX 64 /* candidates up to which the plan is polished on the exact objective */

struct opt_list {
    size_t *items; /* candidate indices, best key first (exchange may put chosen ones first) */
    size_t *orig;  /* the sorted order, restored before each greedy pass */
    int dirty;     /* items differs from orig */
    size_t n, pos;
    int aff[OPT_MAX_AFF]; /* measures touched by the list's items */
    int n_aff;
    double *pmu, *pvar; /* prefix sums, (n+1) x n_aff */
    double *pcost;      /* prefix cost, n+1 */
    double best_ratio;
    size_t best_r;
};

struct opt_state {
    const struct pf_problem *p;
    const struct pf_candidates *c;
    int exact;
    size_t nm;
    double succ[PF_MAX_MEASURES], cost[PF_MAX_MEASURES];
    long need[PF_MAX_MEASURES][6];
    double v[PF_MAX_MEASURES][6]; /* linearized value of star k on measure m */
    double mu[PF_MAX_MEASURES], var[PF_MAX_MEASURES];
    double fcur[PF_MAX_MEASURES];
    /* exact mode: current closure probability per gap, grouped by measure */
    double *curp;
    size_t goff[PF_MAX_MEASURES + 1];
    size_t *gpos; /* gap -> position in curp */
    double *scratch;
    struct opt_list lists[PF_MAX_MEASURES];
    uint64_t touch_lists[PF_MAX_MEASURES]; /* measure -> lists whose aff contains it */
    uint8_t *chosen;
    double budget_left;
    long count_left; /* < 0: no limit */
    int mode;        /* 0: best gain per dollar, commit half runs; 1: same, whole runs;
                        2: largest gain, whole runs (the knapsack's "best single" heuristic) */
};

static double gap_dmu(const struct opt_state *s, uint32_t g)
{
    const struct pf_gap *gp = &s->p->gaps[g];
    return s->succ[gp->measure] * gp->gap_probability;
}

static double gap_dvar(const struct opt_state *s, uint32_t g)
{
    const struct pf_gap *gp = &s->p->gaps[g];
    double q0 = 1.0 - gp->gap_probability;
    double q1 = 1.0 - gp->gap_probability * (1.0 - s->succ[gp->measure]);
    return q1 * (1.0 - q1) - q0 * (1.0 - q0);
}

/* Star distribution of measure m after dropping items rem[0..nrem) and adding items [from, to)
 * of list l (exact mode), or with the given closure mean/variance changes (normal mode). */
static int move_dist(struct opt_state *s, size_t m, const size_t *rem, size_t nrem,
                     const struct opt_list *l, size_t from, size_t to, double dmu, double dvar,
                     struct pf_stardist *d)
{
    const struct pf_measure *ms = &s->p->measures[m];
    if (!s->exact) {
        pf_stardist_normal(ms, s->need[m], s->mu[m] + dmu, s->var[m] + dvar, d);
        return SG_OK;
    }
    size_t n = s->goff[m + 1] - s->goff[m];
    double *q = s->scratch;
    memcpy(q, s->curp + s->goff[m], n * sizeof *q);
    for (size_t r = 0; r < nrem; r++) {
        const struct pf_intervention *it = &s->c->items[rem[r]];
        for (uint32_t t = 0; t < it->n_gaps; t++) {
            uint32_t g = s->c->gap_index[it->first + t];
            if (s->p->gaps[g].measure == m)
                q[s->gpos[g] - s->goff[m]] = 1.0 - s->p->gaps[g].gap_probability;
        }
    }
    for (size_t j = from; l && j < to; j++) {
        const struct pf_intervention *it = &s->c->items[l->items[j]];
        for (uint32_t t = 0; t < it->n_gaps; t++) {
            uint32_t g = s->c->gap_index[it->first + t];
            if (s->p->gaps[g].measure == m)
                q[s->gpos[g] - s->goff[m]] =
                    1.0 - s->p->gaps[g].gap_probability * (1.0 - s->succ[m]);
        }
    }
    double *pmf;
    size_t lo, len;
    int rc = pf_poisson_binomial(q, n, &pmf, &lo, &len);
    if (rc) return rc;
    pf_stardist_pmf(ms, s->need[m], pmf, lo, len, d);
    free(pmf);
    return SG_OK;
}

/* Star distribution of measure m in the current state plus optional changes (exact mode: the
 * gaps of items[from..to) of list l are worked). */
static int measure_dist(struct opt_state *s, size_t m, double dmu, double dvar,
                        const struct opt_list *l, size_t from, size_t to, struct pf_stardist *d)
{
    return move_dist(s, m, NULL, 0, l, from, to, dmu, dvar, d);
}

static double dist_value(const struct opt_state *s, size_t m, const struct pf_stardist *d)
{
    double f = 0.0;
    for (int k = 0; k <= 5; k++)
        f += d->p[k] * s->v[m][k];
    return f;
}

static int eval_f(struct opt_state *s, size_t m, double dmu, double dvar, const struct opt_list *l,
                  size_t from, size_t to, double *f)
{
    struct pf_stardist d;
    int rc = measure_dist(s, m, dmu, dvar, l, from, to, &d);
    *f = rc ? 0.0 : dist_value(s, m, &d);
    return rc;
}

/* Gain and cost of committing items [pos, pos+r) of list l. */
static int run_gain(struct opt_state *s, const struct opt_list *l, size_t r, double *gain,
                    double *cost)
{
    size_t a = l->pos, b = l->pos + r;
    double g = 0.0;
    for (int k = 0; k < l->n_aff; k++) {
        size_t m = (size_t)l->aff[k];
        double dmu =
            l->pmu[b * (size_t)l->n_aff + (size_t)k] - l->pmu[a * (size_t)l->n_aff + (size_t)k];
        double dvar =
            l->pvar[b * (size_t)l->n_aff + (size_t)k] - l->pvar[a * (size_t)l->n_aff + (size_t)k];
        if (dmu == 0.0 && dvar == 0.0) continue;
        double f;
        int rc = eval_f(s, m, dmu, dvar, l, a, b, &f);
        if (rc) return rc;
        g += f - s->fcur[m];
    }
    *gain = g;
    *cost = l->pcost[b] - l->pcost[a];
    return SG_OK;
}

/* Finds the list's best run under the budget and count limits. */
static int refresh(struct opt_state *s, struct opt_list *l)
{
    l->best_ratio = -1.0;
    l->best_r = 0;
    if (s->count_left == 0) return SG_OK;
    /* skip head items that no longer fit the budget */
    while (l->pos < l->n && l->pcost[l->pos + 1] - l->pcost[l->pos] > s->budget_left + 1e-9)
        l->pos++;
    size_t rem = l->n - l->pos;
    if (!rem) return SG_OK;
    /* the largest affordable prefix (costs are positive: prefix sums increase) */
    size_t lo = 1, hi = rem;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (l->pcost[l->pos + mid] - l->pcost[l->pos] <= s->budget_left + 1e-9)
            lo = mid;
        else
            hi = mid - 1;
    }
    size_t maxr = lo;
    if (s->count_left > 0 && (size_t)s->count_left < maxr) maxr = (size_t)s->count_left;
    for (size_t r = 1;; r = r * 2 > maxr && r < maxr ? maxr : r * 2) {
        double g, c;
        int rc = run_gain(s, l, r, &g, &c);
        if (rc) return rc;
        double ratio = s->mode == 2 ? g : c > 0 ? g / c : 0.0;
        if (ratio > l->best_ratio * (1.0 + 1e-12) + 1e-300 || l->best_r == 0) {
            l->best_ratio = ratio;
            l->best_r = r;
        }
        if (r >= maxr) break;
    }
    return SG_OK;
}

static int update_measure(struct opt_state *s, size_t m)
{
    return eval_f(s, m, 0, 0, NULL, 0, 0, &s->fcur[m]);
}

/* Commits items [pos, pos+k) of list l; sets *touched bits of the measures changed. */
static void commit(struct opt_state *s, struct opt_list *l, size_t k, uint64_t *touched)
{
    for (size_t j = l->pos; j < l->pos + k; j++) {
        size_t i = l->items[j];
        const struct pf_intervention *it = &s->c->items[i];
        s->chosen[i] = 1;
        s->budget_left -= it->cost;
        if (s->count_left > 0) s->count_left--;
        for (uint32_t t = 0; t < it->n_gaps; t++) {
            uint32_t g = s->c->gap_index[it->first + t];
            size_t m = s->p->gaps[g].measure;
            s->mu[m] += gap_dmu(s, g);
            s->var[m] += gap_dvar(s, g);
            if (s->exact)
                s->curp[s->gpos[g]] = 1.0 - s->p->gaps[g].gap_probability * (1.0 - s->succ[m]);
            *touched |= 1ULL << m;
        }
    }
    l->pos += k;
}

static int refresh_touched(struct opt_state *s, uint64_t touched)
{
    uint64_t lists = 0;
    int rc;
    for (size_t m = 0; m < s->nm; m++)
        if (touched & (1ULL << m)) {
            if ((rc = update_measure(s, m))) return rc;
            lists |= s->touch_lists[m];
        }
    for (size_t m = 0; m < s->nm; m++)
        if (lists & (1ULL << m))
            if ((rc = refresh(s, &s->lists[m]))) return rc;
    return SG_OK;
}

/* Sorting key of a candidate: weighted expected closures added per dollar. */
static int cmp_key(const void *a, const void *b, void *ctx)
{
    const double *sort_key = ctx;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (sort_key[x] != sort_key[y]) return sort_key[x] > sort_key[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static void free_lists(struct opt_state *s)
{
    for (size_t m = 0; m < PF_MAX_MEASURES; m++) {
        free(s->lists[m].items);
        free(s->lists[m].orig);
        free(s->lists[m].pmu);
        free(s->lists[m].pvar);
        free(s->lists[m].pcost);
    }
    memset(s->lists, 0, sizeof s->lists);
}

/* Recomputes a list's prefix sums of cost and, per affected measure, added closure mean and
 * variance, for its current item order. */
static void list_prefix(struct opt_state *s, struct opt_list *l)
{
    size_t na = (size_t)(l->n_aff ? l->n_aff : 1);
    int slot[PF_MAX_MEASURES];
    for (int x = 0; x < l->n_aff; x++)
        slot[l->aff[x]] = x;
    memset(l->pmu, 0, na * sizeof(double));
    memset(l->pvar, 0, na * sizeof(double));
    l->pcost[0] = 0;
    for (size_t j = 0; j < l->n; j++) {
        const struct pf_intervention *it = &s->c->items[l->items[j]];
        memcpy(l->pmu + (j + 1) * na, l->pmu + j * na, na * sizeof(double));
        memcpy(l->pvar + (j + 1) * na, l->pvar + j * na, na * sizeof(double));
        l->pcost[j + 1] = l->pcost[j] + it->cost;
        for (uint32_t t = 0; t < it->n_gaps; t++) {
            uint32_t g = s->c->gap_index[it->first + t];
            size_t a = (size_t)slot[s->p->gaps[g].measure];
            l->pmu[(j + 1) * na + a] += gap_dmu(s, g);
            l->pvar[(j + 1) * na + a] += gap_dvar(s, g);
        }
    }
}

/* Puts a list's chosen items first (each part in sorted order) and points pos after them, so
 * that "the last chosen" and "the next unchosen" are contiguous for the exchange moves. */
static void list_chosen_first(struct opt_state *s, struct opt_list *l)
{
    size_t k = 0;
    for (size_t j = 0; j < l->n; j++)
        if (s->chosen[l->orig[j]]) l->items[k++] = l->orig[j];
    l->pos = k;
    for (size_t j = 0; j < l->n; j++)
        if (!s->chosen[l->orig[j]]) l->items[k++] = l->orig[j];
    l->dirty = 1;
    list_prefix(s, l);
}

/* Builds the per-measure lists (once per optimization; the greedy only resets pos). */
static int build_lists(struct opt_state *s, char *err, size_t errlen)
{
    const struct pf_candidates *c = s->c;
    const struct pf_problem *p = s->p;
    double *key = malloc((c->n ? c->n : 1) * sizeof *key);
    int *prim = malloc((c->n ? c->n : 1) * sizeof *prim);
    size_t cnt[PF_MAX_MEASURES] = {0};
    int rc = SG_OK;
    if (!key || !prim) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
        goto done;
    }
    for (size_t i = 0; i < c->n; i++) {
        const struct pf_intervention *it = &c->items[i];
        double k = 0.0, bestw = -1.0;
        int pm = 0;
        for (uint32_t t = 0; t < it->n_gaps; t++) {
            uint32_t g = c->gap_index[it->first + t];
            size_t m = p->gaps[g].measure;
            double w = (p->measures[m].weight > 0 ? p->measures[m].weight : 1e-6) * gap_dmu(s, g);
            k += w;
            if (w > bestw) {
                bestw = w;
                pm = (int)m;
            }
        }
        key[i] = it->cost > 0 ? k / it->cost : 0.0;
        prim[i] = pm;
        cnt[pm]++;
    }
    for (size_t m = 0; m < s->nm; m++) {
        struct opt_list *l = &s->lists[m];
        l->items = malloc((cnt[m] ? cnt[m] : 1) * sizeof *l->items);
        if (!l->items) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < c->n; i++) {
        struct opt_list *l = &s->lists[prim[i]];
        l->items[l->n++] = i;
    }
    for (size_t m = 0; m < s->nm; m++)
        qsort_r(s->lists[m].items, s->lists[m].n, sizeof(size_t), cmp_key, key);
    for (size_t m = 0; m < s->nm; m++) {
        struct opt_list *l = &s->lists[m];
        int slot[PF_MAX_MEASURES];
        for (size_t j = 0; j < PF_MAX_MEASURES; j++)
            slot[j] = -1;
        for (size_t j = 0; j < l->n; j++) {
            const struct pf_intervention *it = &c->items[l->items[j]];
            for (uint32_t t = 0; t < it->n_gaps; t++) {
                size_t mm = p->gaps[c->gap_index[it->first + t]].measure;
                if (slot[mm] >= 0) continue;
                if (l->n_aff >= OPT_MAX_AFF) {
                    rc = sg_errf(err, errlen, SG_ETOOBIG,
                                 "optimize: bundles of measure %s touch more than %d measures",
                                 p->measures[m].code, OPT_MAX_AFF);
                    goto done;
                }
                slot[mm] = l->n_aff;
                l->aff[l->n_aff++] = (int)mm;
                s->touch_lists[mm] |= 1ULL << m;
            }
        }
        size_t na = (size_t)(l->n_aff ? l->n_aff : 1);
        l->pmu = calloc((l->n + 1) * na, sizeof *l->pmu);
        l->pvar = calloc((l->n + 1) * na, sizeof *l->pvar);
        l->pcost = calloc(l->n + 1, sizeof *l->pcost);
        if (!l->pmu || !l->pvar || !l->pcost) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
            goto done;
        }
        l->orig = malloc((l->n ? l->n : 1) * sizeof *l->orig);
        if (!l->orig) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
            goto done;
        }
        memcpy(l->orig, l->items, l->n * sizeof *l->orig);
        list_prefix(s, l);
    }
done:
    free(key);
    free(prim);
    return rc;
}

/* Resets the plan state to "no intervention". */
static int reset_state(struct opt_state *s, const struct pf_opt_params *prm)
{
    memset(s->mu, 0, sizeof s->mu);
    memset(s->var, 0, sizeof s->var);
    for (size_t i = 0; i < s->p->n_gaps; i++) {
        const struct pf_gap *g = &s->p->gaps[i];
        double q = 1.0 - g->gap_probability;
        s->mu[g->measure] += q;
        s->var[g->measure] += q * (1.0 - q);
        if (s->exact) s->curp[s->gpos[i]] = q;
    }
    memset(s->chosen, 0, s->c->n ? s->c->n : 1);
    s->budget_left = prm->budget;
    s->count_left = prm->max_count > 0 ? prm->max_count : -1;
    for (size_t m = 0; m < s->nm; m++) {
        struct opt_list *l = &s->lists[m];
        l->pos = 0;
        if (l->dirty) {
            memcpy(l->items, l->orig, l->n * sizeof *l->items);
            l->dirty = 0;
            list_prefix(s, l);
        }
    }
    return SG_OK;
}

/* Sets the state to "the items of plan are worked". */
static int set_state(struct opt_state *s, const struct pf_opt_params *prm, const uint8_t *plan)
{
    reset_state(s, prm);
    for (size_t i = 0; i < s->c->n; i++) {
        if (!plan[i]) continue;
        const struct pf_intervention *it = &s->c->items[i];
        s->chosen[i] = 1;
        s->budget_left -= it->cost;
        if (s->count_left > 0) s->count_left--;
        for (uint32_t t = 0; t < it->n_gaps; t++) {
            uint32_t g = s->c->gap_index[it->first + t];
            size_t m = s->p->gaps[g].measure;
            s->mu[m] += gap_dmu(s, g);
            s->var[m] += gap_dvar(s, g);
            if (s->exact)
                s->curp[s->gpos[g]] = 1.0 - s->p->gaps[g].gap_probability * (1.0 - s->succ[m]);
        }
    }
    return SG_OK;
}

/* v[m][k] = E[U | star_m = k] over the other measures' current star distributions. */
static int linearize(struct opt_state *s, enum pf_objective obj, char *err, size_t errlen)
{
    struct pf_stardist d[PF_MAX_MEASURES];
    int rc;
    for (size_t m = 0; m < s->nm; m++)
        if ((rc = measure_dist(s, m, 0, 0, NULL, 0, 0, &d[m])))
            return sg_errf(err, errlen, rc, "optimize: %s", sg_strerror(rc));
    for (size_t m = 0; m < s->nm; m++) {
        if (s->p->measures[m].denominator <= 0) {
            memset(s->v[m], 0, sizeof s->v[m]);
            continue;
        }
        s->v[m][0] = 0.0;
        for (int k = 1; k <= 5; k++) {
            struct pf_enum_result er;
            if ((rc = pf_enumerate(s->p, d, (int)m, k, PF_ENUM_LINEAR, &er, err, errlen)))
                return rc;
            s->v[m][k] = obj == PF_OBJECTIVE_STARS ? er.exp_raw : er.exp_smooth;
        }
    }
    return SG_OK;
}

static int greedy(struct opt_state *s, const struct pf_opt_params *prm)
{
    int rc;
    reset_state(s, prm);
    for (size_t m = 0; m < s->nm; m++)
        if ((rc = update_measure(s, m))) return rc;
    for (size_t m = 0; m < s->nm; m++)
        if ((rc = refresh(s, &s->lists[m]))) return rc;
    for (;;) {
        size_t best = SIZE_MAX;
        double br = 0.0, second = 0.0;
        for (size_t m = 0; m < s->nm; m++) {
            double r = s->lists[m].best_r ? s->lists[m].best_ratio : -1.0;
            if (r > br) {
                second = br;
                br = r;
                best = m;
            } else if (r > second) {
                second = r;
            }
        }
        if (best == SIZE_MAX || !(br > 1e-15)) break;
        struct opt_list *l = &s->lists[best];
        size_t r = l->best_r;
        /* cached runs of untouched lists may have gone stale as the budget shrank */
        if (l->pcost[l->pos + r] - l->pcost[l->pos] > s->budget_left + 1e-9 ||
            (s->count_left >= 0 && (long)r > s->count_left)) {
            if ((rc = refresh(s, l))) return rc;
            continue;
        }
        uint64_t touched = 0;
        commit(s, l, r == 1 || s->mode != 0 ? r : (r + 1) / 2, &touched);
        if (r == 1 && s->mode != 2) {
            /* concave part: keep taking this list's next item while it beats the others */
            for (size_t m = 0; m < s->nm; m++)
                if (touched & (1ULL << m))
                    if ((rc = update_measure(s, m))) return rc;
            while (l->pos < l->n && s->count_left != 0) {
                double g, c;
                if (l->pcost[l->pos + 1] - l->pcost[l->pos] > s->budget_left + 1e-9) break;
                if ((rc = run_gain(s, l, 1, &g, &c))) return rc;
                double ratio = c > 0 ? g / c : 0.0;
                if (!(ratio > 1e-15) || ratio < second) break;
                uint64_t t2 = 0;
                commit(s, l, 1, &t2);
                for (size_t m = 0; m < s->nm; m++)
                    if (t2 & (1ULL << m))
                        if ((rc = update_measure(s, m))) return rc;
                touched |= t2;
            }
        }
        if ((rc = refresh_touched(s, touched))) return rc;
    }
    return SG_OK;
}

/* ---- exchange: move budget between lists ----
 * After a greedy pass, a move drops the last k (0, 1, 2, 4, 8) chosen items of one list and adds
 * the next j (1, 2, 4, ...) items of another, when the surrogate objective rises; the best move
 * is applied, up to OPT_XCH_ITERS times. It repairs the greedy's commitments to a measure whose
 * cut point turned out to be a worse buy than another's. */
#define OPT_XCH_ITERS 20
#define OPT_XCH_REM 8

static int exchange(struct opt_state *s)
{
    int rc;
    for (size_t m = 0; m < s->nm; m++) {
        list_chosen_first(s, &s->lists[m]);
        if ((rc = update_measure(s, m))) return rc;
    }
    for (int iter = 0; iter < OPT_XCH_ITERS; iter++) {
        double best_d = 0.0;
        size_t bA = 0, bk = 0, bB = 0, bj = 0;
        size_t brem[OPT_XCH_REM];
        int found = 0;
        for (size_t A = 0; A < s->nm; A++) {
            struct opt_list *la = &s->lists[A];
            size_t rem[OPT_XCH_REM], nrem = 0;
            for (size_t q = la->pos; q > 0 && nrem < OPT_XCH_REM; q--)
                rem[nrem++] = la->items[q - 1]; /* chosen-first order: all chosen */
            double rmu[PF_MAX_MEASURES] = {0}, rvar[PF_MAX_MEASURES] = {0}, freed = 0;
            uint64_t rmask = 0;
            size_t done = 0;
            for (size_t k = 0; k <= nrem; k = k ? k * 2 : 1) {
                if (k == 0 && A > 0) continue; /* additions alone: once */
                for (; done < k; done++) {
                    const struct pf_intervention *it = &s->c->items[rem[done]];
                    freed += it->cost;
                    for (uint32_t t = 0; t < it->n_gaps; t++) {
                        uint32_t g = s->c->gap_index[it->first + t];
                        size_t m = s->p->gaps[g].measure;
                        rmu[m] += gap_dmu(s, g);
                        rvar[m] += gap_dvar(s, g);
                        rmask |= 1ULL << m;
                    }
                }
                double avail = s->budget_left + freed;
                long cavail = s->count_left < 0 ? -1 : s->count_left + (long)k;
                for (size_t B = 0; B < s->nm; B++) {
                    if (B == A && k > 0) continue;
                    struct opt_list *lb = &s->lists[B];
                    size_t left = lb->n - lb->pos;
                    uint64_t amask = 0;
                    for (int x = 0; x < lb->n_aff; x++)
                        amask |= 1ULL << lb->aff[x];
                    for (size_t j = 1; j <= left; j *= 2) {
                        double cost = lb->pcost[lb->pos + j] - lb->pcost[lb->pos];
                        if (cost > avail + 1e-9 || (cavail >= 0 && (long)j > cavail)) break;
                        double dsum = 0.0;
                        uint64_t mm = rmask | amask;
                        for (size_t m = 0; m < s->nm; m++) {
                            if (!(mm & (1ULL << m))) continue;
                            double amu = 0, avar = 0;
                            for (int x = 0; x < lb->n_aff; x++)
                                if ((size_t)lb->aff[x] == m) {
                                    size_t na = (size_t)lb->n_aff;
                                    amu = lb->pmu[(lb->pos + j) * na + (size_t)x] -
                                          lb->pmu[lb->pos * na + (size_t)x];
                                    avar = lb->pvar[(lb->pos + j) * na + (size_t)x] -
                                           lb->pvar[lb->pos * na + (size_t)x];
                                }
                            struct pf_stardist d;
                            if ((rc = move_dist(s, m, rem, k, lb, lb->pos, lb->pos + j,
                                                amu - rmu[m], avar - rvar[m], &d)))
                                return rc;
                            dsum += dist_value(s, m, &d) - s->fcur[m];
                        }
                        if (dsum > best_d + 1e-12 * (fabs(best_d) + 1e-300)) {
                            best_d = dsum;
                            bA = A, bk = k, bB = B, bj = j;
                            memcpy(brem, rem, k * sizeof *rem);
                            found = 1;
                        }
                    }
                }
            }
        }
        if (!found || !(best_d > 1e-12)) break;
        uint64_t touched = 0;
        for (size_t r = 0; r < bk; r++) {
            const struct pf_intervention *it = &s->c->items[brem[r]];
            s->chosen[brem[r]] = 0;
            s->budget_left += it->cost;
            if (s->count_left >= 0) s->count_left++;
            for (uint32_t t = 0; t < it->n_gaps; t++) {
                uint32_t g = s->c->gap_index[it->first + t];
                size_t m = s->p->gaps[g].measure;
                s->mu[m] -= gap_dmu(s, g);
                s->var[m] -= gap_dvar(s, g);
                if (s->exact) s->curp[s->gpos[g]] = 1.0 - s->p->gaps[g].gap_probability;
                touched |= 1ULL << m;
            }
        }
        commit(s, &s->lists[bB], bj, &touched);
        for (size_t m = 0; m < s->nm; m++)
            if (touched & (1ULL << m))
                if ((rc = update_measure(s, m))) return rc;
        list_chosen_first(s, &s->lists[bA]);
        list_chosen_first(s, &s->lists[bB]);
    }
    return SG_OK;
}

double pf_objective_value(enum pf_objective obj, const struct pf_outcome *o)
{
    return obj == PF_OBJECTIVE_STARS ? o->exp_overall_raw : o->exp_revenue;
}

static int plan_objective(const struct pf_problem *p, const struct pf_candidates *c,
                          const uint8_t *mask, int exact, enum pf_objective obj, double *pclose,
                          double *val, char *err, size_t errlen)
{
    struct pf_outcome o;
    pf_closure_probs(p, c, mask, pclose);
    int rc = pf_evaluate(p, pclose, exact, &o, err, errlen);
    *val = rc ? -INFINITY : pf_objective_value(obj, &o);
    return rc;
}

/* Local search on the exact objective for small candidate lists: moves drop up to two chosen
 * items and add up to two unchosen ones (drop-two only up to OPT_POLISH_DROP2 candidates), first
 * improvement, until no move improves. This is where the combinatorics of a few items around a
 * cut point matter most, and where the greedy's ratio rule can be fooled by a tight budget. */
#define OPT_POLISH_DROP2 24
static int polish(const struct pf_problem *p, const struct pf_candidates *c,
                  const struct pf_opt_params *prm, int exact, uint8_t *mask, double *obj,
                  double *pclose, char *err, size_t errlen)
{
    size_t n = c->n;
    size_t dmax = n <= OPT_POLISH_DROP2 ? 2 : 1;
    int rc;
    for (int pass = 0; pass < 100; pass++) {
        double spend = 0;
        long cnt = 0;
        for (size_t i = 0; i < n; i++)
            if (mask[i]) spend += c->items[i].cost, cnt++;
        int improved = 0;
        /* d1 < d2 chosen (n = none), a1 < a2 unchosen (n = none) */
        for (size_t d1 = 0; d1 <= n && !improved; d1++) {
            if (d1 < n && !mask[d1]) continue;
            for (size_t d2 = d1 < n && dmax > 1 ? d1 + 1 : n; d2 <= n && !improved; d2++) {
                if (d2 < n && !mask[d2]) continue;
                double sp =
                    spend - (d1 < n ? c->items[d1].cost : 0) - (d2 < n ? c->items[d2].cost : 0);
                long ct = cnt - (d1 < n) - (d2 < n);
                for (size_t a1 = 0; a1 <= n && !improved; a1++) {
                    if (a1 < n && mask[a1]) continue;
                    for (size_t a2 = a1 < n ? a1 + 1 : n; a2 <= n && !improved; a2++) {
                        if (a2 < n && mask[a2]) continue;
                        if (a1 == n && a2 == n && (d1 == n || d1 < n)) {
                            if (d1 == n) continue; /* empty move */
                        }
                        double sp2 = sp + (a1 < n ? c->items[a1].cost : 0) +
                                     (a2 < n ? c->items[a2].cost : 0);
                        long ct2 = ct + (a1 < n) + (a2 < n);
                        if (sp2 > prm->budget + 1e-9) continue;
                        if (prm->max_count > 0 && ct2 > prm->max_count) continue;
                        if (d1 < n) mask[d1] = 0;
                        if (d2 < n) mask[d2] = 0;
                        if (a1 < n) mask[a1] = 1;
                        if (a2 < n) mask[a2] = 1;
                        double v;
                        if ((rc = plan_objective(p, c, mask, exact, prm->objective, pclose, &v, err,
                                                 errlen)))
                            return rc;
                        if (v > *obj + 1e-12 * (fabs(*obj) + 1)) {
                            *obj = v;
                            improved = 1;
                        } else {
                            if (d1 < n) mask[d1] = 1;
                            if (d2 < n) mask[d2] = 1;
                            if (a1 < n) mask[a1] = 0;
                            if (a2 < n) mask[a2] = 0;
                        }
                    }
                }
            }
        }
        if (!improved) break;
    }
    return SG_OK;
}

int pf_objective_parse(const char *s, enum pf_objective *out, char *err, size_t errlen)
{
    if (s && !strcmp(s, "stars"))
        *out = PF_OBJECTIVE_STARS;
    else if (s && !strcmp(s, "revenue"))
        *out = PF_OBJECTIVE_REVENUE;
    else
        return sg_errf(err, errlen, SG_EINVAL,
                       "objective: unknown '%s' (expected stars or revenue)", s ? s : "");
    return SG_OK;
}

/* Fills a plan summary from a chosen mask. */
static int summarize(const struct pf_problem *p, const struct pf_candidates *c, const uint8_t *mask,
                     int exact, enum pf_objective obj, const struct pf_outcome *base,
                     double *pclose, struct pf_plan_summary *ps, char *err, size_t errlen)
{
    size_t n = 0;
    int rc;
    free(ps->chosen);
    memset(ps, 0, sizeof *ps);
    for (size_t i = 0; i < c->n; i++)
        n += mask[i] != 0;
    ps->chosen = malloc((n ? n : 1) * sizeof *ps->chosen);
    if (!ps->chosen) return sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
    for (size_t i = 0; i < c->n; i++)
        if (mask[i]) {
            ps->chosen[ps->n_chosen++] = i;
            ps->spend += c->items[i].cost;
        }
    pf_closure_probs(p, c, mask, pclose);
    if ((rc = pf_evaluate(p, pclose, exact, &ps->out, err, errlen))) return rc;
    ps->objective = pf_objective_value(obj, &ps->out);
    ps->gain = ps->objective - pf_objective_value(obj, base);
    ps->revenue_gain = ps->out.exp_revenue - base->exp_revenue;
    ps->roi = ps->spend > 0 ? ps->revenue_gain / ps->spend : 0.0;
    return SG_OK;
}

/* Naive orders: take candidates in the order of key (descending) while they fit. */
static int cmp_naive(const void *a, const void *b, void *ctx)
{
    const double *const *keys = ctx;
    const double *naive_key1 = keys[0], *naive_key2 = keys[1];
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (naive_key1[x] != naive_key1[y]) return naive_key1[x] > naive_key1[y] ? -1 : 1;
    if (naive_key2[x] != naive_key2[y]) return naive_key2[x] > naive_key2[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int naive_plan(const struct pf_problem *p, const struct pf_candidates *c,
                      const struct pf_opt_params *prm, int by_weight, uint8_t *mask, char *err,
                      size_t errlen)
{
    size_t n = c->n;
    double *k1 = malloc((n ? n : 1) * sizeof *k1), *k2 = malloc((n ? n : 1) * sizeof *k2);
    size_t *ord = malloc((n ? n : 1) * sizeof *ord);
    if (!k1 || !k2 || !ord) {
        free(k1);
        free(k2);
        free(ord);
        return sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const struct pf_intervention *it = &c->items[i];
        double gp = 0, w = 0;
        for (uint32_t t = 0; t < it->n_gaps; t++) {
            const struct pf_gap *g = &p->gaps[c->gap_index[it->first + t]];
            if (g->gap_probability > gp) gp = g->gap_probability;
            if (p->measures[g->measure].weight > w) w = p->measures[g->measure].weight;
        }
        k1[i] = by_weight ? w : gp;
        k2[i] = by_weight ? gp : w;
        ord[i] = i;
    }
    const double *keys[2] = {k1, k2};
    qsort_r(ord, n, sizeof *ord, cmp_naive, (void *)keys);
    memset(mask, 0, n ? n : 1);
    double left = prm->budget;
    long cnt = 0;
    for (size_t j = 0; j < n; j++) {
        if (prm->max_count > 0 && cnt >= prm->max_count) break;
        const struct pf_intervention *it = &c->items[ord[j]];
        if (it->cost > left + 1e-9) continue;
        mask[ord[j]] = 1;
        left -= it->cost;
        cnt++;
    }
    free(k1);
    free(k2);
    free(ord);
    return SG_OK;
}

int pf_optimize(const struct pf_problem *p, const struct pf_candidates *c,
                const struct pf_opt_params *prm, struct pf_opt_result *out, char *err,
                size_t errlen)
{
    struct opt_state *s = NULL;
    uint8_t *best = NULL, *round_plan = NULL;
    double *pclose = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if (!(prm->budget > 0) || !isfinite(prm->budget))
        return sg_errf(err, errlen, SG_EINVAL, "budget: must be a positive amount (got %g)",
                       prm->budget);
    if (prm->max_count < 0)
        return sg_errf(err, errlen, SG_EINVAL, "max_count: must be >= 0 (got %ld)", prm->max_count);
    if (prm->objective != PF_OBJECTIVE_STARS && prm->objective != PF_OBJECTIVE_REVENUE)
        return sg_errf(err, errlen, SG_EINVAL, "objective: unknown value %d", (int)prm->objective);
    if ((rc = pf_problem_check(p, err, errlen))) return rc;
    s = calloc(1, sizeof *s);
    best = calloc(c->n ? c->n : 1, 1);
    round_plan = calloc(c->n ? c->n : 1, 1);
    pclose = malloc((p->n_gaps ? p->n_gaps : 1) * sizeof *pclose);
    if (!s || !best || !round_plan || !pclose) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
        goto fail;
    }
    s->p = p;
    s->c = c;
    s->nm = p->n_measures;
    s->exact = p->n_gaps <= OPT_EXACT_MAX;
    pf_measure_itypes(p, s->succ, s->cost);
    for (size_t m = 0; m < s->nm; m++)
        pf_star_thresholds(&p->measures[m], p->measures[m].cut, s->need[m]);
    s->chosen = calloc(c->n ? c->n : 1, 1);
    if (!s->chosen) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
        goto fail;
    }
    if (s->exact) {
        size_t cnt[PF_MAX_MEASURES] = {0};
        s->curp = malloc((p->n_gaps ? p->n_gaps : 1) * sizeof *s->curp);
        s->scratch = malloc((p->n_gaps ? p->n_gaps : 1) * sizeof *s->scratch);
        s->gpos = malloc((p->n_gaps ? p->n_gaps : 1) * sizeof *s->gpos);
        if (!s->curp || !s->scratch || !s->gpos) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "optimize: out of memory");
            goto fail;
        }
        for (size_t i = 0; i < p->n_gaps; i++)
            cnt[p->gaps[i].measure]++;
        s->goff[0] = 0;
        for (size_t m = 0; m < s->nm; m++)
            s->goff[m + 1] = s->goff[m] + cnt[m];
        size_t pos[PF_MAX_MEASURES];
        memcpy(pos, s->goff, s->nm * sizeof *pos);
        for (size_t i = 0; i < p->n_gaps; i++)
            s->gpos[i] = pos[p->gaps[i].measure]++;
    }
    if ((rc = build_lists(s, err, errlen))) goto fail;

    /* baseline */
    pf_closure_probs(p, c, NULL, pclose);
    if ((rc = pf_evaluate(p, pclose, s->exact, &out->baseline, err, errlen))) goto fail;
    out->objective_baseline = pf_objective_value(prm->objective, &out->baseline);

    double best_obj = -INFINITY;
    reset_state(s, prm);
    for (int round = 0; round < OPT_ROUNDS; round++) {
        /* linearize around the current state (round 0: no intervention; then the last plan) */
        if ((rc = linearize(s, prm->objective, err, errlen))) goto fail;
        /* three greedy variants on the same linearization; keep the best evaluated plan and
         * re-linearize around it */
        double round_best = -INFINITY;
        for (int mode = 0; mode < 3; mode++) {
            s->mode = mode;
            if ((rc = greedy(s, prm))) {
                rc = sg_errf(err, errlen, rc, "optimize: %s", sg_strerror(rc));
                goto fail;
            }
            struct pf_outcome o;
            pf_closure_probs(p, c, s->chosen, pclose);
            if ((rc = pf_evaluate(p, pclose, s->exact, &o, err, errlen))) goto fail;
            double obj = pf_objective_value(prm->objective, &o);
            if (obj > round_best) {
                round_best = obj;
                memcpy(round_plan, s->chosen, c->n ? c->n : 1);
            }
        }
        /* exchange moves from the round's best plan; kept when the evaluated objective rises
         * (the moves follow the surrogate) */
        if (!prm->no_exchange) {
            if ((rc = set_state(s, prm, round_plan)) || (rc = exchange(s))) {
                rc = sg_errf(err, errlen, rc, "optimize: %s", sg_strerror(rc));
                goto fail;
            }
            struct pf_outcome o;
            pf_closure_probs(p, c, s->chosen, pclose);
            if ((rc = pf_evaluate(p, pclose, s->exact, &o, err, errlen))) goto fail;
            double obj = pf_objective_value(prm->objective, &o);
            if (obj > round_best) {
                round_best = obj;
                memcpy(round_plan, s->chosen, c->n ? c->n : 1);
            }
        }
        out->rounds = round + 1;
        /* the state the next linearization starts from: this round's best plan */
        if ((rc = set_state(s, prm, round_plan))) goto fail;
        if (round_best > best_obj + 1e-12) {
            best_obj = round_best;
            memcpy(best, round_plan, c->n ? c->n : 1);
        } else if (round > 0) {
            break; /* no improvement from re-linearizing */
        }
    }
    if (c->n <= OPT_POLISH_MAX && !prm->no_polish &&
        (rc = polish(p, c, prm, s->exact, best, &best_obj, pclose, err, errlen)))
        goto fail;
    /* never worse than doing nothing */
    if (best_obj < out->objective_baseline) memset(best, 0, c->n ? c->n : 1);
    if ((rc = summarize(p, c, best, s->exact, prm->objective, &out->baseline, pclose, &out->plan,
                        err, errlen)))
        goto fail;
    if ((rc = naive_plan(p, c, prm, 0, best, err, errlen)) ||
        (rc = summarize(p, c, best, s->exact, prm->objective, &out->baseline, pclose,
                        &out->by_probability, err, errlen)))
        goto fail;
    if ((rc = naive_plan(p, c, prm, 1, best, err, errlen)) ||
        (rc = summarize(p, c, best, s->exact, prm->objective, &out->baseline, pclose,
                        &out->by_weight, err, errlen)))
        goto fail;
    rc = SG_OK;
    goto done;
fail:
    pf_opt_result_free(out);
done:
    if (s) {
        free_lists(s);
        free(s->chosen);
        free(s->curp);
        free(s->scratch);
        free(s->gpos);
        free(s);
    }
    free(best);
    free(round_plan);
    free(pclose);
    return rc;
}

void pf_opt_result_free(struct pf_opt_result *r)
{
    free(r->plan.chosen);
    free(r->by_probability.chosen);
    free(r->by_weight.chosen);
    r->plan.chosen = r->by_probability.chosen = r->by_weight.chosen = NULL;
    r->plan.n_chosen = r->by_probability.n_chosen = r->by_weight.n_chosen = 0;
}
