/* test_portfolio.c: unit tests for the rules of src/portfolio/: configuration parsing and its
 * errors, the economics arithmetic (worked by hand below), measure stars at display-rounding and
 * cut-point edges in both directions, half-star rounding, the weighted-mean test rater, bundling,
 * valuation at cut-point edges, the Poisson-binomial distribution against hand-computed cases
 * and the binomial closed form, snapshots and member ranking. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include "portfolio/plan.h"
#include "portfolio/portfolio.h"

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static struct pf_config cfg;

static void load_cfg(void)
{
    char err[SG_ERRLEN];
    int rc = pf_config_load_dir(&cfg, STARGAP_SOURCE_DIR "/data/portfolio", err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, SG_OK);
}

static void test_config_shipped(void **state)
{
    (void)state;
    load_cfg();
    const struct pf_itype *t = pf_config_itype(&cfg, "GSD");
    assert_non_null(t);
    assert_string_equal(t->type, "lab_work");
    NEAR(t->cost, 45.0, 1e-12);
    NEAR(t->success, 0.35, 1e-12);
    assert_null(pf_config_itype(&cfg, "NOPE"));
    assert_int_equal(cfg.n_rules, 3);
    assert_string_equal(cfg.rules[0].name, "diabetes_labs");
    assert_int_equal(cfg.rules[0].n_measures, 2);
    NEAR(cfg.econ.benchmark_pmpm, 1150.0, 1e-9);
    NEAR(cfg.econ.bid_pmpm, 0.78 * 1150.0, 1e-9);
    /* the statutory tables: 5% at >= 4 stars; rebate 50/65/70 */
    NEAR(pf_econ_bonus_pct(&cfg.econ, 3.5), 0.0, 0);
    NEAR(pf_econ_bonus_pct(&cfg.econ, 4.0), 5.0, 0);
    NEAR(pf_econ_rebate_pct(&cfg.econ, 3.0), 50.0, 0);
    NEAR(pf_econ_rebate_pct(&cfg.econ, 3.5), 65.0, 0);
    NEAR(pf_econ_rebate_pct(&cfg.econ, 4.0), 65.0, 0);
    NEAR(pf_econ_rebate_pct(&cfg.econ, 4.5), 70.0, 0);
}

static void test_config_errors(void **state)
{
    (void)state;
    struct pf_config c;
    char err[SG_ERRLEN];
    pf_config_init(&c);
    const char *bad_rate = "measure,intervention_type,cost,success_rate,description\n"
                           "GSD,lab_work,45,0.3,x\n"
                           "KED,lab_work,40,1.4,y\n";
    assert_int_equal(
        pf_config_parse_interventions(&c, bad_rate, strlen(bad_rate), "iv.csv", err, sizeof err),
        SG_ERANGE);
    assert_non_null(strstr(err, "iv.csv:3"));
    assert_non_null(strstr(err, "success_rate"));
    assert_int_equal(c.n_itypes, 0);

    const char *bad_cost = "measure,intervention_type,cost,success_rate,description\n"
                           "GSD,lab_work,-5,0.3,x\n";
    assert_int_equal(
        pf_config_parse_interventions(&c, bad_cost, strlen(bad_cost), "iv.csv", err, sizeof err),
        SG_ERANGE);
    assert_non_null(strstr(err, "cost"));

    const char *bad_hdr = "measure,type,cost\nGSD,lab,4\n";
    assert_int_equal(
        pf_config_parse_interventions(&c, bad_hdr, strlen(bad_hdr), "iv.csv", err, sizeof err),
        SG_EPARSE);
    assert_non_null(strstr(err, "header"));

    const char *dup = "measure,intervention_type,cost,success_rate,description\n"
                      "GSD,lab_work,45,0.3,x\nGSD,lab_work,45,0.3,\"quoted, with comma\"\n";
    assert_int_equal(pf_config_parse_interventions(&c, dup, strlen(dup), "iv.csv", err, sizeof err),
                     SG_ECONFLICT);

    const char *good = "measure,intervention_type,cost,success_rate,description\r\n"
                       "# comment\r\n"
                       "GSD,lab_work,45,0.3,\"draw, \"\"HbA1c\"\"\"\r\n"
                       "KED,lab_work,40,0.45,y\r\n";
    assert_int_equal(
        pf_config_parse_interventions(&c, good, strlen(good), "iv.csv", err, sizeof err), SG_OK);
    assert_int_equal(c.n_itypes, 2);
    assert_string_equal(c.itypes[0].desc, "draw, \"HbA1c\"");

    const char *b_unknown = "bundle,intervention_type,measures,shared_cost,description\n"
                            "labs,lab_work,GSD;EED,10,x\n";
    assert_int_equal(
        pf_config_parse_bundles(&c, b_unknown, strlen(b_unknown), "b.csv", err, sizeof err),
        SG_EINVAL);
    assert_non_null(strstr(err, "b.csv:2"));
    assert_non_null(strstr(err, "EED"));
    const char *b_cost = "bundle,intervention_type,measures,shared_cost,description\n"
                         "labs,lab_work,GSD;KED,40,x\n";
    assert_int_equal(pf_config_parse_bundles(&c, b_cost, strlen(b_cost), "b.csv", err, sizeof err),
                     SG_ERANGE);
    assert_non_null(strstr(err, "shared_cost"));
    const char *b_one = "bundle,intervention_type,measures,shared_cost,description\n"
                        "labs,lab_work,GSD,10,x\n";
    assert_int_equal(pf_config_parse_bundles(&c, b_one, strlen(b_one), "b.csv", err, sizeof err),
                     SG_EINVAL);

    struct pf_econ e;
    const char *no_bench = "bid_ratio = 0.8\n";
    assert_int_equal(pf_econ_parse(&e, no_bench, strlen(no_bench), "e.conf", err, sizeof err),
                     SG_EINVAL);
    assert_non_null(strstr(err, "benchmark_pmpm"));
    const char *bad_key = "benchmark_pmpm = 1000\nbid_ratio = 0.8\nbonus_pct = 5\n";
    assert_int_equal(pf_econ_parse(&e, bad_key, strlen(bad_key), "e.conf", err, sizeof err),
                     SG_EINVAL);
    assert_non_null(strstr(err, "e.conf:3"));
    const char *desc = "benchmark_pmpm = 1000\nbid_ratio = 0.8\nrebate = 3.5 65\nrebate = 3.0 50\n";
    assert_int_equal(pf_econ_parse(&e, desc, strlen(desc), "e.conf", err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "ascend"));
    const char *pct = "benchmark_pmpm = 1000\nbid_ratio = 0.8\nbonus = 4.0 150\n";
    assert_int_equal(pf_econ_parse(&e, pct, strlen(pct), "e.conf", err, sizeof err), SG_ERANGE);
    assert_non_null(strstr(err, "bonus"));
}

/* benchmark 1000, bid 800, 100 members; the payments below are worked by hand:
 * 3.0 stars: no bonus, rebate 50% of (1000-800) = 100 -> 900 pmpm
 * 3.5 stars: no bonus, rebate 65% of 200 = 130 -> 930
 * 4.0 stars: benchmark 1050, rebate 65% of 250 = 162.5 -> 962.5
 * 4.5 stars: benchmark 1050, rebate 70% of 250 = 175 -> 975
 * 4.0 in a double-bonus county: benchmark 1100, rebate 65% of 300 = 195 -> 995 */
static void make_econ(struct pf_econ *e)
{
    memset(e, 0, sizeof *e);
    e->benchmark_pmpm = 1000;
    e->bid_pmpm = 800;
    e->risk_score = 1.0;
    e->n_bonus = 2;
    e->bonus_min[0] = 0, e->bonus_pct[0] = 0;
    e->bonus_min[1] = 4.0, e->bonus_pct[1] = 5;
    e->n_rebate = 3;
    e->rebate_min[0] = 0, e->rebate_pct[0] = 50;
    e->rebate_min[1] = 3.5, e->rebate_pct[1] = 65;
    e->rebate_min[2] = 4.5, e->rebate_pct[2] = 70;
}

static void test_economics(void **state)
{
    (void)state;
    struct pf_econ e;
    struct pf_revenue r;
    char err[SG_ERRLEN];
    make_econ(&e);
    assert_int_equal(pf_econ_check(&e, err, sizeof err), SG_OK);
    pf_econ_revenue(&e, 3.0, 100, &r);
    NEAR(r.payment_pmpm, 900.0, 1e-9);
    NEAR(r.rebate_pmpm, 100.0, 1e-9);
    NEAR(r.annual, 900.0 * 12 * 100, 1e-6);
    pf_econ_revenue(&e, 3.5, 100, &r);
    NEAR(r.payment_pmpm, 930.0, 1e-9);
    pf_econ_revenue(&e, 4.0, 100, &r);
    NEAR(r.benchmark_pmpm, 1050.0, 1e-9);
    NEAR(r.payment_pmpm, 962.5, 1e-9);
    pf_econ_revenue(&e, 4.5, 100, &r);
    NEAR(r.payment_pmpm, 975.0, 1e-9);
    e.double_bonus = 1;
    pf_econ_revenue(&e, 4.0, 100, &r);
    NEAR(r.bonus_pct, 10.0, 1e-12);
    NEAR(r.payment_pmpm, 995.0, 1e-9);
    e.double_bonus = 0;
    /* risk score 1.2 scales bid and benchmark: 4.0 stars -> 1.2 * 962.5 = 1155 */
    e.risk_score = 1.2;
    pf_econ_revenue(&e, 4.0, 1, &r);
    NEAR(r.payment_pmpm, 1155.0, 1e-9);
    e.risk_score = 1.0;
    /* a bid above the benchmark is paid the benchmark */
    e.bid_pmpm = 1100;
    pf_econ_revenue(&e, 3.0, 1, &r);
    NEAR(r.payment_pmpm, 1000.0, 1e-9);
    NEAR(r.rebate_pmpm, 0.0, 0);
    e.bid_pmpm = 800;
    /* smoothed revenue at 3.75: halfway between 930 and 962.5 pmpm */
    NEAR(pf_econ_smooth_revenue(&e, 3.75, 100), 946.25 * 1200, 1e-6);
    NEAR(pf_econ_smooth_revenue(&e, 4.0, 100), 962.5 * 1200, 1e-6);
}

static struct pf_measure mk(const char *code, char part, double w, int lower, double c2, double c3,
                            double c4, double c5, long den, long comp)
{
    struct pf_measure m;
    memset(&m, 0, sizeof m);
    snprintf(m.code, sizeof m.code, "%s", code);
    m.part = part;
    m.weight = w;
    m.lower_is_better = lower;
    m.precision = 0;
    m.cut[0] = c2, m.cut[1] = c3, m.cut[2] = c4, m.cut[3] = c5;
    m.guardrail = 5;
    m.denominator = den;
    m.compliant = comp;
    return m;
}

static void test_stars(void **state)
{
    (void)state;
    /* C01 2026 cut points 58/71/76/84 */
    struct pf_measure m = mk("BCS", 'C', 1, 0, 58, 71, 76, 84, 200, 0);
    assert_int_equal(pf_star_for_count(&m, 167), 5); /* 83.5% rounds half-up to 84 */
    assert_int_equal(pf_star_for_count(&m, 166), 4); /* 83.0% */
    assert_int_equal(pf_star_for_count(&m, 115), 2); /* 57.5% -> 58 */
    assert_int_equal(pf_star_for_count(&m, 114), 1); /* 57.0% */
    long need[6];
    pf_star_thresholds(&m, m.cut, need);
    assert_int_equal(need[2], 115);
    assert_int_equal(need[3], 141); /* 70.5% -> 71 */
    assert_int_equal(need[4], 151); /* 75.5% -> 76 */
    assert_int_equal(need[5], 167);
    /* one decimal of display precision: 83.45 -> 83.5 (< 84), 83.95 -> 84.0 */
    m.precision = 1;
    m.denominator = 2000;
    assert_int_equal(pf_star_for_count(&m, 1669), 4); /* 83.45 -> 83.5 */
    assert_int_equal(pf_star_for_count(&m, 1679), 5); /* 83.95 -> 84.0 */
    /* lower is better, C18 2026: 1 > 12, 2 in (10,12], 3 in (9,10], 4 in (7,9], 5 <= 7 */
    struct pf_measure r = mk("PCR", 'C', 3, 1, 12, 10, 9, 7, 1000, 0);
    assert_int_equal(pf_star_for_count(&r, 930), 5); /* rate 7.0 */
    assert_int_equal(pf_star_for_count(&r, 926), 5); /* 7.4 -> 7 */
    assert_int_equal(pf_star_for_count(&r, 925), 4); /* 7.5 -> 8 */
    assert_int_equal(pf_star_for_count(&r, 880), 2); /* 12.0 */
    assert_int_equal(pf_star_for_count(&r, 876), 2); /* 12.4 -> 12 */
    assert_int_equal(pf_star_for_count(&r, 875), 1); /* 12.5 -> 13 */
    /* degenerate band: 5 stars only at exactly 100% */
    struct pf_measure d = mk("C31", 'C', 2, 0, 74, 90, 99, 100, 1000, 0);
    assert_int_equal(pf_star_for_count(&d, 999), 5); /* 99.9% displays as 100% */
    assert_int_equal(pf_star_for_count(&d, 994), 4); /* 99.4% displays as 99% */
    /* half stars (METHODOLOGY 5.6) */
    NEAR(pf_round_half_star(3.749999), 3.5, 0);
    NEAR(pf_round_half_star(3.75), 4.0, 0);
    NEAR(pf_round_half_star(4.7499994), 4.5, 0);
    NEAR(pf_round_half_star(4.7499996), 5.0, 0); /* 6-decimal value is 4.750000 */
    NEAR(pf_round_half_star(1.2), 1.0, 0);
    char err[SG_ERRLEN];
    struct pf_measure bad = mk("X", 'C', 1, 0, 60, 50, 70, 80, 10, 0);
    assert_int_equal(pf_measure_check(&bad, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "cut points"));
    bad = mk("X", 'C', 1, 0, 50, 60, 70, 80, 10, 11);
    assert_int_equal(pf_measure_check(&bad, err, sizeof err), SG_ERANGE);
    assert_non_null(strstr(err, "numerator"));
}

static void test_testrater(void **state)
{
    (void)state;
    struct pf_measure ms[3] = {mk("A", 'C', 1, 0, 50, 60, 70, 80, 10, 0),
                               mk("B", 'C', 3, 0, 50, 60, 70, 80, 10, 0),
                               mk("D", 'D', 3, 0, 50, 60, 70, 80, 10, 0)};
    struct pf_testrater tr = {ms, 3, 40, 10, 0, 0};
    struct pf_ratings r;
    int stars[3] = {3, 5, 2};
    assert_int_equal(pf_testrater_rate(&tr, stars, 3, &r), SG_OK);
    /* Part C: (40 + 3 + 15) / 14 = 4.142857 -> 4.0; Part D: 2; overall (58 + 6) / 17 = 3.7647 */
    NEAR(r.part_c_raw, 58.0 / 14.0, 1e-12);
    NEAR(r.part_c, 4.0, 0);
    NEAR(r.part_d, 2.0, 0);
    NEAR(r.overall_raw, 64.0 / 17.0, 1e-12);
    NEAR(r.overall, 4.0, 0);
    int unrated[3] = {0, 0, 0};
    assert_int_equal(pf_testrater_rate(&tr, unrated, 3, &r), SG_OK);
    NEAR(r.part_d, 0.0, 0); /* no Part D measure rated */
    NEAR(r.overall_raw, 4.0, 1e-12);
}

/* measures used by the bundling / snapshot tests, with the shipped configuration */
static struct pf_measure six[6];
static struct pf_testrater six_rater;

static void make_six(void)
{
    six[0] = mk("GSD", 'C', 3, 0, 54, 77, 87, 91, 100, 60);
    six[1] = mk("KED", 'C', 1, 0, 34, 51, 62, 74, 100, 50);
    six[2] = mk("CBP", 'C', 3, 0, 67, 75, 80, 86, 100, 70);
    six[3] = mk("EED", 'C', 1, 0, 60, 72, 80, 86, 100, 70);
    six[4] = mk("PDC-DR", 'D', 3, 0, 83, 86, 89, 92, 100, 85);
    six[5] = mk("PDC-STA", 'D', 3, 0, 84, 88, 90, 93, 100, 85);
    six_rater = (struct pf_testrater){six, 6, 30, 10, 8, 2};
}

static void test_bundling(void **state)
{
    (void)state;
    load_cfg();
    make_six();
    /* member 0: GSD, KED, CBP, EED; member 1: GSD; member 2: PDC-DR, PDC-STA */
    struct pf_gap gaps[] = {{0, 0, PF_TIER_HIGH, 0.8}, {0, 1, PF_TIER_MEDIUM, 0.5},
                            {0, 2, PF_TIER_LOW, 0.3},  {0, 3, PF_TIER_HIGH, 0.9},
                            {1, 0, PF_TIER_HIGH, 0.7}, {2, 4, PF_TIER_MEDIUM, 0.6},
                            {2, 5, PF_TIER_LOW, 0.2}};
    struct pf_problem p = {six, 6, gaps, 7, &cfg, {pf_testrater_rate, &six_rater}, 1000};
    struct pf_candidates c;
    char err[SG_ERRLEN];
    assert_int_equal(pf_candidates_build(&p, 1, &c, err, sizeof err), SG_OK);
    /* member 0: diabetes_labs(GSD+KED) = 45+40-25 = 60, CBP 160 (pcp bundle needs 2), EED 95;
     * member 1: GSD 45; member 2: pharmacy_adherence(PDC-DR+PDC-STA) = 30+30-20 = 40 */
    assert_int_equal(c.n, 5);
    double total = 0;
    int bundles = 0;
    for (size_t i = 0; i < c.n; i++) {
        total += c.items[i].cost;
        if (c.items[i].rule >= 0) {
            bundles++;
            assert_true(c.items[i].n_gaps >= 2);
        }
    }
    assert_int_equal(bundles, 2);
    assert_int_equal(c.items[0].member, 0);
    assert_int_equal(c.items[0].rule, 0);
    NEAR(c.items[0].cost, 60.0, 1e-9);
    assert_string_equal(pf_intervention_type(&p, &c, 0), "lab_work");
    const char *codes[4];
    assert_int_equal(pf_intervention_measures(&p, &c, 0, codes, 4), 2);
    assert_string_equal(codes[0], "GSD");
    assert_string_equal(codes[1], "KED");
    assert_int_equal(pf_intervention_measures(&p, &c, 0, codes, 1), 2); /* count beyond cap */
    assert_int_equal(c.items[4].member, 2);
    NEAR(c.items[4].cost, 40.0, 1e-9);
    assert_string_equal(pf_intervention_type(&p, &c, 4), "pharmacy_outreach");
    NEAR(total, 60 + 160 + 95 + 45 + 40, 1e-9);
    pf_candidates_free(&c);
    /* without bundles: one per gap, the sum of the single costs */
    assert_int_equal(pf_candidates_build(&p, 0, &c, err, sizeof err), SG_OK);
    assert_int_equal(c.n, 7);
    total = 0;
    for (size_t i = 0; i < c.n; i++)
        total += c.items[i].cost;
    NEAR(total, 45 + 40 + 160 + 95 + 45 + 30 + 30, 1e-9);
    pf_candidates_free(&c);
    /* bad input: a gap probability outside [0,1], an unknown measure index */
    gaps[3].gap_probability = 1.5;
    assert_int_equal(pf_candidates_build(&p, 1, &c, err, sizeof err), SG_ERANGE);
    assert_non_null(strstr(err, "gaps[3].gap_probability"));
    gaps[3].gap_probability = 0.9;
    gaps[2].measure = 9;
    assert_int_equal(pf_candidates_build(&p, 1, &c, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "gaps[2].measure"));
    gaps[2].measure = 2;
}

/* Valuation at a cut-point edge. One Part C measure X (weight 3, den 200, cut points
 * 54/77/87/91) and other Part C measures of weight 10 averaging 3.5 stars. Raw overall with X
 * at k stars = (35 + 3k) / 13: 44/13 (3 stars), 47/13 (4), 50/13 (5). Economics as in
 * test_economics with 100 members: annual revenue 1,080,000 at 3.0, 1,116,000 at 3.5,
 * 1,155,000 at 4.0; smoothed revenue interpolates linearly between half stars. */
static double smooth_by_hand(double raw)
{
    if (raw < 3.5) return 1080000 + (raw - 3.0) / 0.5 * 36000;
    return 1116000 + (raw - 3.5) / 0.5 * 39000;
}

static void test_valuation_edges(void **state)
{
    (void)state;
    struct pf_config c;
    pf_config_init(&c);
    make_econ(&c.econ);
    struct pf_measure x = mk("X", 'C', 3, 0, 54, 77, 87, 91, 200, 0);
    struct pf_testrater tr = {&x, 1, 35, 10, 0, 0};
    struct pf_problem p = {&x, 1, NULL, 0, &c, {pf_testrater_rate, &tr}, 100};
    struct pf_marginal mv;
    char err[SG_ERRLEN];
    int stars[1] = {0};
    /* count 172 = 86.0% -> 3 stars; 173 = 86.5% displays as 87% -> 4 stars: one closure away */
    assert_int_equal(pf_marginal_value_at(&p, 0, 172, stars, 100, &mv, err, sizeof err), SG_OK);
    assert_int_equal(mv.star_now, 3);
    /* 4 stars in 1 closure: smooth(47/13) - smooth(44/13) = 17,307.69 per closure;
     * 5 stars needs 181 (90.5%): 9 closures, (smooth(50/13) - smooth(44/13)) / 9 = 3,923.08 */
    double v4 = smooth_by_hand(47.0 / 13) - smooth_by_hand(44.0 / 13);
    double v5 = (smooth_by_hand(50.0 / 13) - smooth_by_hand(44.0 / 13)) / 9;
    assert_true(v4 > v5);
    assert_int_equal(mv.star_target, 4);
    assert_int_equal(mv.closures_needed, 1);
    NEAR(mv.value, v4, 1e-6);
    NEAR(mv.star_gain, 1.0, 0);
    NEAR(mv.overall_gain, 3.0 / 13, 1e-12);
    NEAR(mv.part_c_gain, 3.0 / 13, 1e-12);
    /* one count lower: 171 = 85.5% displays as 86%: still 3 stars, now 2 closures away */
    assert_int_equal(pf_marginal_value_at(&p, 0, 171, stars, 100, &mv, err, sizeof err), SG_OK);
    assert_int_equal(mv.closures_needed, 2);
    NEAR(mv.value, v4 / 2, 1e-6);
    /* 5 stars needs 10 closures from 171; (smooth(50/13)-smooth(44/13))/10 < v4/2 */
    /* not reachable: only 1 open gap left -> no target, no value */
    assert_int_equal(pf_marginal_value_at(&p, 0, 171, stars, 1, &mv, err, sizeof err), SG_OK);
    assert_int_equal(mv.star_target, 0);
    NEAR(mv.value, 0.0, 0);
    /* already 5 stars: nothing to gain */
    assert_int_equal(pf_marginal_value_at(&p, 0, 190, stars, 10, &mv, err, sizeof err), SG_OK);
    assert_int_equal(mv.star_now, 5);
    NEAR(mv.value, 0.0, 0);
    /* at 4 stars, 5 stars needs 181 - 175 = 6 closures: (smooth(50/13)-smooth(47/13))/6 */
    assert_int_equal(pf_marginal_value_at(&p, 0, 175, stars, 50, &mv, err, sizeof err), SG_OK);
    assert_int_equal(mv.star_target, 5);
    assert_int_equal(mv.closures_needed, 6);
    NEAR(mv.value, (smooth_by_hand(50.0 / 13) - smooth_by_hand(47.0 / 13)) / 6, 1e-6);
    /* count outside [0, den] */
    assert_int_equal(pf_marginal_value_at(&p, 0, 201, stars, 5, &mv, err, sizeof err), SG_ERANGE);
}

static void test_gap_values(void **state)
{
    (void)state;
    /* gap value = success x gap_probability x marginal value; priority relative to the best
     * value per dollar. Measure X as above at 172 compliant plus gaps whose expected natural
     * closures round to 0, so the reference count stays 172. */
    struct pf_config c;
    char err[SG_ERRLEN];
    pf_config_init(&c);
    make_econ(&c.econ);
    const char *iv =
        "measure,intervention_type,cost,success_rate,description\nX,lab_work,50,0.4,x\n";
    assert_int_equal(pf_config_parse_interventions(&c, iv, strlen(iv), "iv", err, sizeof err),
                     SG_OK);
    struct pf_measure x = mk("X", 'C', 3, 0, 54, 77, 87, 91, 200, 172);
    struct pf_testrater tr = {&x, 1, 35, 10, 0, 0};
    struct pf_gap g[2] = {{0, 0, PF_TIER_HIGH, 1.0}, {1, 0, PF_TIER_LOW, 0.75}};
    struct pf_problem p = {&x, 1, g, 2, &c, {pf_testrater_rate, &tr}, 100};
    /* natural closures 0 + 0.25 -> rounds to 0; open gaps left 1.75 -> 2 */
    struct pf_marginal mv[1];
    double val[2], pri[2];
    assert_int_equal(pf_marginal_values(&p, mv, err, sizeof err), SG_OK);
    double v4 = smooth_by_hand(47.0 / 13) - smooth_by_hand(44.0 / 13);
    NEAR(mv[0].value, v4, 1e-6);
    assert_int_equal(pf_gap_values(&p, mv, val, pri, err, sizeof err), SG_OK);
    NEAR(val[0], 0.4 * 1.0 * v4, 1e-6);
    NEAR(val[1], 0.4 * 0.75 * v4, 1e-6);
    NEAR(pri[0], 100.0, 1e-9);
    NEAR(pri[1], 75.0, 1e-9);
}

static void test_poisson_binomial(void **state)
{
    (void)state;
    double *pmf;
    size_t lo, len;
    double p1[] = {0.5, 0.5};
    assert_int_equal(pf_poisson_binomial(p1, 2, &pmf, &lo, &len), SG_OK);
    assert_int_equal(lo, 0);
    assert_int_equal(len, 3);
    NEAR(pmf[0], 0.25, 1e-15);
    NEAR(pmf[1], 0.5, 1e-15);
    NEAR(pmf[2], 0.25, 1e-15);
    free(pmf);
    /* p = 0.2, 0.5, 0.9 by hand: P0 = .8*.5*.1 = .04; P1 = .2*.5*.1 + .8*.5*.1 + .8*.5*.9 = .41;
     * P2 = .2*.5*.1... = .2*.5*.9 + .2*.5*.1 + .8*.5*.9 = .46; P3 = .2*.5*.9 = .09 */
    double p2[] = {0.2, 0.5, 0.9};
    assert_int_equal(pf_poisson_binomial(p2, 3, &pmf, &lo, &len), SG_OK);
    assert_int_equal(lo, 0);
    assert_int_equal(len, 4);
    NEAR(pmf[0], 0.04, 1e-15);
    NEAR(pmf[1], 0.41, 1e-15);
    NEAR(pmf[2], 0.46, 1e-15);
    NEAR(pmf[3], 0.09, 1e-15);
    free(pmf);
    /* certain and impossible events shift the support */
    double p3[] = {1.0, 0.0, 0.5, 1.0};
    assert_int_equal(pf_poisson_binomial(p3, 4, &pmf, &lo, &len), SG_OK);
    assert_int_equal(lo, 2);
    assert_int_equal(len, 2);
    NEAR(pmf[0], 0.5, 1e-15);
    NEAR(pmf[1], 0.5, 1e-15);
    free(pmf);
    /* all equal p: the binomial closed form, with n = 20,000 (truncation far below 1e-12) */
    size_t n = 20000;
    double *pp = malloc(n * sizeof *pp);
    for (size_t i = 0; i < n; i++)
        pp[i] = 0.3;
    assert_int_equal(pf_poisson_binomial(pp, n, &pmf, &lo, &len), SG_OK);
    double mass = 0;
    for (size_t j = 0; j < len; j++)
        mass += pmf[j];
    NEAR(mass, 1.0, 1e-10);
    /* entries below 1e-17 of the peak are dropped: |z| <= sqrt(2 ln 1e17) = 8.9 sd on each side,
     * so the window is ~18 sd = ~1,150 wide (sd = 64.8) instead of 20,001 */
    assert_true(len < 1300);
    size_t ks[] = {5800, 5950, 6000, 6100, 6300};
    for (size_t t = 0; t < 5; t++) {
        size_t k = ks[t];
        double lb = lgamma((double)n + 1) - lgamma((double)k + 1) - lgamma((double)(n - k) + 1) +
                    (double)k * log(0.3) + (double)(n - k) * log(0.7);
        assert_true(k >= lo && k < lo + len);
        NEAR(pmf[k - lo], exp(lb), 1e-12);
    }
    free(pmf);
    /* unequal p, n = 3,000 (blocks + convolution) against a plain O(n^2) DP without truncation */
    size_t n2 = 3000;
    double *full = calloc(n2 + 1, sizeof *full);
    full[0] = 1.0;
    uint64_t x = 12345;
    for (size_t i = 0; i < n2; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        pp[i] = (double)(x >> 11) * 0x1.0p-53;
        for (size_t k = i + 1; k > 0; k--)
            full[k] = full[k] * (1 - pp[i]) + full[k - 1] * pp[i];
        full[0] *= 1 - pp[i];
    }
    assert_int_equal(pf_poisson_binomial(pp, n2, &pmf, &lo, &len), SG_OK);
    for (size_t k = 0; k <= n2; k++) {
        double got = k >= lo && k < lo + len ? pmf[k - lo] : 0.0;
        NEAR(got, full[k], 1e-14);
    }
    free(pmf);
    free(full);
    pp[7] = 1.5;
    assert_int_equal(pf_poisson_binomial(pp, n, &pmf, &lo, &len), SG_EINVAL);
    assert_null(pmf);
    free(pp);
}

static void test_snapshot(void **state)
{
    (void)state;
    load_cfg();
    make_six();
    struct pf_gap gaps[] = {{0, 0, PF_TIER_HIGH, 0.8},
                            {0, 1, PF_TIER_MEDIUM, 0.5},
                            {0, 2, PF_TIER_LOW, 0.3},
                            {5, 3, PF_TIER_HIGH, 0.9},
                            {7, 0, PF_TIER_HIGH, 0.7}};
    struct pf_problem p = {six, 6, gaps, 5, &cfg, {pf_testrater_rate, &six_rater}, 1000};
    struct pf_snapshot s;
    char err[SG_ERRLEN];
    double val[5] = {10, 20, 30, 40, 50};
    assert_int_equal(pf_snapshot_compute(&p, val, &s, err, sizeof err), SG_OK);
    assert_int_equal(s.members, 1000);
    assert_int_equal(s.members_with_gaps, 3);
    assert_int_equal(s.total_gaps, 5);
    assert_int_equal(s.gaps_by_measure[0], 2);
    assert_int_equal(s.gaps_by_measure[4], 0);
    assert_int_equal(s.gaps_by_tier[PF_TIER_HIGH], 3);
    assert_int_equal(s.gaps_by_tier[PF_TIER_MEDIUM], 1);
    assert_int_equal(s.gaps_by_tier[PF_TIER_LOW], 1);
    NEAR(s.estimated_value, 150, 1e-9);
    /* current stars: GSD 60% -> 2, KED 50% -> 2, CBP 70% -> 2, EED 70% -> 2, PDC-DR 85% -> 2,
     * PDC-STA 85% -> 2. Overall = (30 + 8 + 2*(3+1+3+1) + 2*(3+3)) / (10 + 2 + 14) = 66/26 */
    NEAR(s.current.overall_raw, 66.0 / 26.0, 1e-12);
    NEAR(s.star_current, 2.5, 0);
    /* projected: expected natural closures GSD 0.2+0.3 = 0.5 -> rounds to 1 (61%), KED 0.5 -> 1
     * (51% -> 3 stars); CBP 0.7 -> 1 (71%), EED 0.1 -> 0. KED moves to 3: raw = 67/26 */
    NEAR(s.projected.overall_raw, 67.0 / 26.0, 1e-12);
    long n_g[3];
    uint32_t mem[3];
    double tot[3];
    long k = pf_rank_members(&p, val, 1, 3, mem, tot, n_g, err, sizeof err);
    assert_int_equal(k, 3);
    assert_int_equal(mem[0], 0); /* 10+20+30 = 60 */
    NEAR(tot[0], 60, 1e-9);
    assert_int_equal(n_g[0], 3);
    assert_int_equal(mem[1], 7); /* 50 */
    assert_int_equal(mem[2], 5); /* 40 */
    k = pf_rank_members(&p, val, 2, 10, mem, tot, n_g, err, sizeof err);
    assert_int_equal(k, 1);
    /* computed values when none are given: finite and non-negative */
    assert_int_equal(pf_snapshot_compute(&p, NULL, &s, err, sizeof err), SG_OK);
    assert_true(s.estimated_value >= 0 && isfinite(s.estimated_value));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_shipped),   cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_economics),        cmocka_unit_test(test_stars),
        cmocka_unit_test(test_testrater),        cmocka_unit_test(test_bundling),
        cmocka_unit_test(test_valuation_edges),  cmocka_unit_test(test_gap_values),
        cmocka_unit_test(test_poisson_binomial), cmocka_unit_test(test_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
