/* bench_portfolio.c: timings of the portfolio module on a synthetic contract with 1,000,000
 * open gaps (default) over the eleven member-level measures: candidate building (singles and
 * bundles), valuation, the optimizer (both objectives), the simulation (exact Poisson-binomial
 * per measure plus Monte Carlo) and the snapshot. Prints the median of --reps repetitions.
 * The rater is the weighted-mean test stand-in (the Star Ratings engine is not wired yet).
 *
 * usage: bench_portfolio [--gaps N] [--reps R] [--runs MC_RUNS] [--budget DOLLARS] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "portfolio/plan.h"
#include "portfolio/portfolio.h"

/* Process CPU time: the machine is shared with other builds, so wall time is inflated by load;
 * every stage is single-threaded, so CPU time is the figure that compares across runs. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rs = 88172645463325252ULL;
static uint64_t xr(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static double uni(void)
{
    return (double)(xr() >> 11) * 0x1.0p-53;
}

/* Counts rater calls, to estimate the cost with the real Star Ratings engine (~2.3 us per
 * stars_rate call on this machine for a 2026 MA-PD contract). */
struct counting_rater {
    struct pf_testrater inner;
    long calls;
};
static int counting_rate(void *ctx, const int *stars, size_t n, struct pf_ratings *out)
{
    struct counting_rater *c = ctx;
    c->calls++;
    return pf_testrater_rate(&c->inner, stars, n, out);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define MAXREP 15
static double med(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    long n_gaps = 1000000, runs = 100;
    int reps = 3;
    double budget = 1000000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--gaps"))
            n_gaps = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs"))
            runs = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--budget"))
            budget = atof(argv[i + 1]);
    }
    if (reps < 1 || reps > MAXREP || n_gaps < 11) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    char err[SG_ERRLEN];
    static struct pf_config cfg;
    if (pf_config_load_dir(&cfg, STARGAP_SOURCE_DIR "/data/portfolio", err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    /* 2026 cut points of the Star measures; BPD has no Star cut points (weight 0, unrated) */
    static const struct {
        const char *code;
        char part;
        double w, c[4], rate;
    } def[11] = {
        {"BCS", 'C', 1, {58, 71, 76, 84}, 72},     {"COL", 'C', 1, {48, 60, 70, 78}, 66},
        {"CBP", 'C', 3, {67, 75, 80, 86}, 74},     {"BPD", 'C', 0, {0, 0, 0, 0}, 60},
        {"GSD", 'C', 3, {54, 77, 87, 91}, 78},     {"KED", 'C', 1, {34, 51, 62, 74}, 55},
        {"EED", 'C', 1, {60, 72, 80, 86}, 70},     {"SUPD", 'D', 1, {81, 85, 89, 93}, 82},
        {"PDC-DR", 'D', 3, {83, 86, 89, 92}, 83},  {"PDC-RASA", 'D', 3, {84, 88, 91, 93}, 85},
        {"PDC-STA", 'D', 3, {84, 88, 90, 93}, 84},
    };
    struct pf_measure ms[11];
    long per = n_gaps / 11, members = n_gaps / 2;
    struct pf_gap *gaps = malloc((size_t)n_gaps * sizeof *gaps);
    long ng = 0;
    for (int m = 0; m < 11; m++) {
        memset(&ms[m], 0, sizeof ms[m]);
        snprintf(ms[m].code, sizeof ms[m].code, "%s", def[m].code);
        ms[m].part = def[m].part;
        ms[m].weight = def[m].w;
        memcpy(ms[m].cut, def[m].c, sizeof ms[m].cut);
        ms[m].guardrail = 5;
        long open = m == 10 ? n_gaps - ng : per;
        /* the open gaps are the non-compliant share: den = open / (1 - current rate) */
        ms[m].denominator = (long)((double)open / (1.0 - (def[m].rate - 12) / 100.0));
        ms[m].compliant = ms[m].denominator - open;
        for (long k = 0; k < open; k++) {
            double u = uni();
            gaps[ng].member = (uint32_t)(xr() % (uint64_t)members);
            gaps[ng].measure = (uint16_t)m;
            gaps[ng].gap_probability = 0.25 + 0.75 * u * u;
            gaps[ng].tier = gaps[ng].gap_probability >= 0.7   ? PF_TIER_HIGH
                            : gaps[ng].gap_probability >= 0.4 ? PF_TIER_MEDIUM
                                                              : PF_TIER_LOW;
            ng++;
        }
    }
    struct counting_rater tr = {{ms, 11, 60, 18, 16, 5}, 0};
    struct pf_problem p = {ms, 11, gaps, (size_t)ng, &cfg, {counting_rate, &tr}, members};
    printf("portfolio benchmark: %ld open gaps, %ld members, 11 measures, budget %.0f, %d reps\n",
           ng, members, budget, reps);

    double t_single[MAXREP], t_bundle[MAXREP], t_value[MAXREP], t_opt_s[MAXREP], t_opt_r[MAXREP],
        t_sim[MAXREP], t_simopt[MAXREP], t_snap[MAXREP];
    struct pf_candidates cs, cb;
    struct pf_opt_result r;
    struct pf_sim_result sr;
    double *val = malloc((size_t)ng * sizeof *val);
    double t_wall[MAXREP];
    for (int rep = 0; rep < reps; rep++) {
        double w0 = wall_s();
        double t0 = now_s();
        if (pf_candidates_build(&p, 0, &cs, err, sizeof err)) goto fail;
        double t1 = now_s();
        if (pf_candidates_build(&p, 1, &cb, err, sizeof err)) goto fail;
        double t2 = now_s();
        struct pf_marginal mv[11];
        if (pf_marginal_values(&p, mv, err, sizeof err) ||
            pf_gap_values(&p, mv, val, NULL, err, sizeof err))
            goto fail;
        pf_candidates_value(&p, mv, &cb);
        double t3 = now_s();
        struct pf_opt_params prm = {budget, 0, PF_OBJECTIVE_STARS, 0, 0};
        tr.calls = 0;
        if (pf_optimize(&p, &cb, &prm, &r, err, sizeof err)) goto fail;
        double t4 = now_s();
        if (rep == reps - 1) printf("rater calls in one optimization: %ld\n", tr.calls);
        if (rep == reps - 1)
            printf("stars objective (bundles): chosen %zu, spend %.0f, E[overall] %.4f -> %.4f, "
                   "P(>=4) %.3f -> %.3f, revenue gain %.0f, ROI %.1f; naive by probability: gain "
                   "%.4f, by weight: gain %.4f (optimizer %.4f), rounds %d\n",
                   r.plan.n_chosen, r.plan.spend, r.baseline.exp_overall_raw,
                   r.plan.out.exp_overall_raw, r.baseline.p_overall_ge4, r.plan.out.p_overall_ge4,
                   r.plan.revenue_gain, r.plan.roi, r.by_probability.gain, r.by_weight.gain,
                   r.plan.gain, r.rounds);
        pf_opt_result_free(&r);
        prm.objective = PF_OBJECTIVE_REVENUE;
        double t5 = now_s();
        if (pf_optimize(&p, &cb, &prm, &r, err, sizeof err)) goto fail;
        double t6 = now_s();
        if (rep == reps - 1)
            printf("revenue objective (bundles): chosen %zu, spend %.0f, E[revenue] gain %.0f "
                   "(ROI %.1f); naive by probability %.0f, by weight %.0f\n",
                   r.plan.n_chosen, r.plan.spend, r.plan.gain, r.plan.roi, r.by_probability.gain,
                   r.by_weight.gain);
        pf_opt_result_free(&r);
        double rates[11];
        for (int m = 0; m < 11; m++)
            rates[m] = 0.25;
        struct pf_scenario sc = {
            PF_STRATEGY_CLOSURE, rates, 0, PF_OBJECTIVE_STARS, NULL, 0, runs, 42};
        double t7 = now_s();
        if (pf_simulate(&p, NULL, &sc, &sr, err, sizeof err)) goto fail;
        double t8 = now_s();
        if (rep == reps - 1)
            printf(
                "simulation closure 25%%: overall %.1f -> %.1f, exact P(>=4) %.3f, MC P(>=4) %.3f "
                "(%ld runs), revenue impact %.0f, investment %.0f, gaps closed %.0f, members %ld\n",
                sr.base.overall, sr.proj.overall, sr.exact_proj.p_overall_ge4, sr.mc_p_ge4, sr.runs,
                sr.revenue_impact, sr.investment, sr.gaps_closed, sr.members_impacted);
        pf_sim_result_free(&sr);
        sc.strategy = PF_STRATEGY_OPTIMIZER;
        sc.budget = budget;
        sc.runs = 0;
        double t9 = now_s();
        if (pf_simulate(&p, &cb, &sc, &sr, err, sizeof err)) goto fail;
        double t10 = now_s();
        pf_sim_result_free(&sr);
        struct pf_snapshot snap;
        double t11 = now_s();
        if (pf_snapshot_compute(&p, val, &snap, err, sizeof err)) goto fail;
        double t12 = now_s();
        if (rep == reps - 1)
            printf("snapshot: %ld gaps, %ld members with gaps, stars %.1f -> %.1f, value %.0f\n",
                   snap.total_gaps, snap.members_with_gaps, snap.star_current, snap.star_projected,
                   snap.estimated_value);
        pf_candidates_free(&cs);
        pf_candidates_free(&cb);
        t_single[rep] = t1 - t0;
        t_bundle[rep] = t2 - t1;
        t_value[rep] = t3 - t2;
        t_opt_s[rep] = t4 - t3;
        t_opt_r[rep] = t6 - t5;
        t_sim[rep] = t8 - t7;
        t_simopt[rep] = t10 - t9;
        t_snap[rep] = t12 - t11;
        t_wall[rep] = wall_s() - w0;
    }
    printf("median wall seconds per repetition (all stages): %.3f\n", med(t_wall, reps));
    printf(
        "median CPU seconds: candidates singles %.3f, bundles %.3f; valuation %.3f; optimize stars "
        "%.3f, revenue %.3f; simulate closure (exact + %ld MC runs) %.3f; simulate optimizer "
        "%.3f; snapshot %.3f\n",
        med(t_single, reps), med(t_bundle, reps), med(t_value, reps), med(t_opt_s, reps),
        med(t_opt_r, reps), runs, med(t_sim, reps), med(t_simopt, reps), med(t_snap, reps));
    free(gaps);
    free(val);
    return 0;
fail:
    fprintf(stderr, "error: %s\n", err);
    return 1;
}
