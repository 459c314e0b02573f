/* test_portfolio_stars.c: the portfolio module with the real Star Ratings engine plugged in
 * through struct pf_rater, as the CLI/API wiring will do it (the adapter below is the one
 * docs/PORTFOLIO.md describes). Checks that the adapter reproduces stars_rate() on the 2026 year
 * parameters, and that valuation, the optimizer (against exhaustive search with the module's
 * exact evaluator, which test_portfolio_opt checks against brute force) and the simulation run
 * with CMS's reward factor and hold-harmless in the loop. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include "core/fileio.h"
#include "portfolio/plan.h"
#include "portfolio/portfolio.h"
#include "stars/stars.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

struct stars_adapter {
    const struct stars_params *params;
    struct stars_contract_input base; /* every measure of the contract, as stars */
    int idx[PF_MAX_MEASURES];         /* problem measure -> params->measures index */
};

static int adapter_rate(void *ctx, const int *stars, size_t n, struct pf_ratings *out)
{
    struct stars_adapter *a = ctx;
    struct stars_contract_input in = a->base;
    struct stars_result r;
    for (size_t i = 0; i < n; i++) {
        struct stars_measure_input *m = &in.m[a->idx[i]];
        m->has_score = 0;
        m->star = stars[i];
    }
    int rc = stars_rate(a->params, &in, NULL, NULL, &r, NULL, 0);
    if (rc) return rc;
    out->part_c = r.part_c.rating;
    out->part_c_raw = r.part_c.raw;
    out->part_d = r.part_d.rating;
    out->part_d_raw = r.part_d.raw;
    out->overall = r.overall.rating;
    out->overall_raw = r.overall.raw;
    return SG_OK;
}

static struct stars_params params;
static struct pf_config cfg;

static void setup_all(void)
{
    char err[SG_ERRLEN], *text;
    size_t len;
    assert_int_equal(sg_read_file(STARGAP_SOURCE_DIR "/data/stars/2026.txt", 1 << 20, &text, &len,
                                  err, sizeof err),
                     SG_OK);
    int rc = stars_params_parse(text, len, "2026.txt", &params, err, sizeof err);
    free(text);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, SG_OK);
    rc = pf_config_load_dir(&cfg, STARGAP_SOURCE_DIR "/data/portfolio", err, sizeof err);
    assert_int_equal(rc, SG_OK);
}

/* An MA-PD (CCP without SNP) with every 2026 measure at 3 or 4 stars except the three below. */
static void make_contract(struct stars_adapter *a, const struct pf_measure *ms, size_t n)
{
    memset(a, 0, sizeof *a);
    a->params = &params;
    a->base.cls = STARS_CLASS_CCP;
    a->base.offers_part_d = 1;
    for (size_t i = 0; i < params.nmeasures; i++)
        if (!(params.measures[i].flags & STARS_F_SNP_ONLY))
            a->base.m[i].star = 3 + (int)(i % 3 == 0);
    for (size_t k = 0; k < n; k++) {
        int j = stars_find_code(&params, ms[k].code);
        assert_true(j >= 0);
        a->idx[k] = j;
    }
}

static struct pf_measure mk(const char *code, char part, double w, double c2, double c3, double c4,
                            double c5, long den, long comp)
{
    struct pf_measure m;
    memset(&m, 0, sizeof m);
    snprintf(m.code, sizeof m.code, "%s", code);
    m.part = part;
    m.weight = w;
    m.cut[0] = c2, m.cut[1] = c3, m.cut[2] = c4, m.cut[3] = c5;
    m.guardrail = 5;
    m.denominator = den;
    m.compliant = comp;
    return m;
}

static void test_adapter_matches_engine(void **state)
{
    (void)state;
    setup_all();
    /* 2026 cut points (cutpoints_2026_table.md): GSD 54/77/87/91, CBP 67/75/80/86, PDC-DR
     * (MA-PD) 83/86/89/92 */
    struct pf_measure ms[3] = {mk("GSD", 'C', 3, 54, 77, 87, 91, 40, 33),
                               mk("CBP", 'C', 3, 67, 75, 80, 86, 40, 30),
                               mk("PDC-DR", 'D', 3, 83, 86, 89, 92, 50, 42)};
    struct stars_adapter a;
    make_contract(&a, ms, 3);
    int st[3] = {4, 2, 5};
    struct pf_ratings pr;
    assert_int_equal(adapter_rate(&a, st, 3, &pr), SG_OK);
    struct stars_contract_input in = a.base;
    in.m[a.idx[0]].star = 4;
    in.m[a.idx[1]].star = 2;
    in.m[a.idx[2]].star = 5;
    struct stars_result r;
    char err[SG_ERRLEN];
    assert_int_equal(stars_rate(&params, &in, NULL, NULL, &r, err, sizeof err), SG_OK);
    assert_true(r.overall.rated);
    NEAR(pr.overall, r.overall.rating, 0);
    NEAR(pr.overall_raw, r.overall.raw, 1e-12);
    NEAR(pr.part_c, r.part_c.rating, 0);
    NEAR(pr.part_d, r.part_d.rating, 0);
    /* raising GSD from 2 to 4 stars raises the raw overall by at least its weighted share */
    int lo[3] = {2, 2, 5};
    struct pf_ratings p2;
    assert_int_equal(adapter_rate(&a, lo, 3, &p2), SG_OK);
    assert_true(pr.overall_raw > p2.overall_raw);
}

static void test_optimize_with_engine(void **state)
{
    (void)state;
    setup_all();
    struct pf_measure ms[3] = {mk("GSD", 'C', 3, 54, 77, 87, 91, 40, 33),
                               mk("CBP", 'C', 3, 67, 75, 80, 86, 40, 29),
                               mk("PDC-DR", 'D', 3, 83, 86, 89, 92, 50, 42)};
    struct stars_adapter a;
    make_contract(&a, ms, 3);
    struct pf_gap g[9] = {
        {0, 0, PF_TIER_HIGH, 0.9},  {1, 0, PF_TIER_HIGH, 0.8},   {2, 0, PF_TIER_MEDIUM, 0.6},
        {0, 1, PF_TIER_HIGH, 0.9},  {3, 1, PF_TIER_HIGH, 0.7},   {4, 1, PF_TIER_LOW, 0.3},
        {1, 2, PF_TIER_HIGH, 0.95}, {5, 2, PF_TIER_MEDIUM, 0.5}, {6, 2, PF_TIER_HIGH, 0.85}};
    struct pf_problem p = {ms, 3, g, 9, &cfg, {adapter_rate, &a}, 20000};
    struct pf_candidates c;
    char err[SG_ERRLEN];
    assert_int_equal(pf_candidates_build(&p, 0, &c, err, sizeof err), SG_OK);
    struct pf_marginal mv[3];
    assert_int_equal(pf_marginal_values(&p, mv, err, sizeof err), SG_OK);
    for (int m = 0; m < 3; m++)
        assert_true(mv[m].value >= 0 && isfinite(mv[m].value));
    double *pclose = malloc(9 * sizeof *pclose);
    for (int obj = 0; obj < 2; obj++) {
        struct pf_opt_params prm = {300, 0, (enum pf_objective)obj, 0, 0};
        struct pf_opt_result r;
        assert_int_equal(pf_optimize(&p, &c, &prm, &r, err, sizeof err), SG_OK);
        assert_true(r.plan.spend <= 300 + 1e-9);
        /* exhaustive search over the 9 candidates with the exact evaluator */
        double best = -INFINITY;
        uint8_t mask[9];
        for (uint32_t s = 0; s < (1u << c.n); s++) {
            double cost = 0;
            for (size_t i = 0; i < c.n; i++) {
                mask[i] = (s >> i) & 1;
                if (mask[i]) cost += c.items[i].cost;
            }
            if (cost > 300 + 1e-9) continue;
            struct pf_outcome o;
            pf_closure_probs(&p, &c, mask, pclose);
            assert_int_equal(pf_evaluate(&p, pclose, 1, &o, err, sizeof err), SG_OK);
            double v = pf_objective_value((enum pf_objective)obj, &o);
            if (v > best) best = v;
        }
        printf("%s with the 2026 engine: optimizer %.6f, exhaustive %.6f, baseline %.6f\n",
               obj ? "revenue" : "stars", r.plan.objective, best, r.objective_baseline);
        assert_true(r.plan.objective >= best - 0.01 * fabs(best));
        pf_opt_result_free(&r);
    }
    double rates[3] = {0.5, 0.5, NAN};
    struct pf_scenario sc = {PF_STRATEGY_CLOSURE, rates, 0, PF_OBJECTIVE_STARS, NULL, 0, 2000, 5};
    struct pf_sim_result sr;
    assert_int_equal(pf_simulate(&p, &c, &sc, &sr, err, sizeof err), SG_OK);
    assert_true(sr.proj.overall >= sr.base.overall);
    /* 2,000 runs: the sd of a frequency is <= 0.5/sqrt(2000) = 0.011; 0.05 is 4.5 sd */
    NEAR(sr.mc_p_ge4, sr.exact_proj.p_overall_ge4, 0.05);
    pf_sim_result_free(&sr);
    free(pclose);
    pf_candidates_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adapter_matches_engine),
        cmocka_unit_test(test_optimize_with_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
