/* test_stars.c: unit tests for src/stars with hand-worked cases: rounding edges, band parsing,
 * higher- and lower-is-better stars, distance to the next cut point, the disaster and data-issue
 * rules, too few measures, weighted mean/variance, the reward factor at 6 decimals, improvement
 * hold-harmless both ways, counted-once measures and Puerto Rico weights, Ward clustering
 * (worked by hand, and against a brute-force Ward over all pairs), SAS percentiles, Tukey
 * fences, guardrail clamping, improvement-measure clustering, the parameter parser's errors and
 * the shipped year files. Every expected number is derived in the comments, not taken from the
 * code's output. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/fileio.h"
#include "stars/stars.h"

#define EPS 1e-6

/* cmocka's assert_float_equal works in float; the ratings need double precision. */
static void near_(double a, double b, double eps, const char *file, int line)
{
    if (!(fabs(a - b) <= eps)) fail_msg("%s:%d: %.9f != %.9f", file, line, a, b);
}
#define assert_near(a, b, e) near_((double)(a), (double)(b), (e), __FILE__, __LINE__)

/* A small star year: 4 Part C measures (one improvement), 3 Part D (one counted once in the
 * overall, one zero-weighted for Puerto Rico). */
static const char mini[] =
    "# test year\n"
    "[year]\n"
    "star_year = 2030\n"
    "new_measure_thresholds = no\n"
    "[domains]\n"
    "columns = id | part | name\n"
    "HD1 | C | Health\n"
    "DD1 | D | Drugs\n"
    "[measures]\n"
    "columns = cms_id | code | part | domain | category | weight | direction | precision | scale | "
    "method | member_level | flags | name\n"
    "C01 | AAA | C | HD1 | process | 1 | higher | 0 | pct | cluster | yes | - | Measure A\n"
    "C02 | BBB | C | HD1 | intermediate_outcome | 3 | higher | 0 | pct | cluster | no | - | Measure B\n"
    "C03 | CCC | C | HD1 | patient_experience | 2 | lower | 2 | nonneg | cluster | no | - | Measure C\n"
    "C04 | HPQI | C | HD1 | improvement | 5 | higher | 6 | signed | improvement | no | no_guardrail | "
    "Plan Improvement\n"
    "D01 | DDD | D | DD1 | process | 1 | higher | 0 | pct | cluster | no | no_disaster | Drug A\n"
    "D02 | EEE | D | DD1 | intermediate_outcome | 3 | higher | 0 | pct | cluster | no | pr_zero | Drug "
    "Adherence\n"
    "D03 | CCC-D | D | DD1 | patient_experience | 2 | lower | 2 | nonneg | cluster | no | overall_once "
    "| Measure C\n"
    "[min_measures]\n"
    "columns = rating | class | min | of\n"
    "part_c | ccp | 2 | 3\n"
    "part_d | ccp | 2 | 3\n"
    "part_d | pdp | 2 | 3\n"
    "overall | ccp | 3 | 5\n"
    "[reward]\n"
    "columns = improvement | new | rating | mean_p65 | mean_p85 | var_p30 | var_p70\n"
    "with | any | part_c | 3.5 | 4.0 | 0.5 | 1.0\n"
    "with | any | part_d_mapd | 3.5 | 4.0 | 0.5 | 1.0\n"
    "with | any | part_d_pdp | 3.5 | 4.0 | 0.5 | 1.0\n"
    "with | any | overall | 3.5 | 4.0 | 0.5 | 1.0\n"
    "without | any | part_c | 3.6 | 4.1 | 0.4 | 1.0\n"
    "without | any | part_d_mapd | 3.6 | 4.1 | 0.4 | 1.0\n"
    "without | any | part_d_pdp | 3.6 | 4.1 | 0.4 | 1.0\n"
    "without | any | overall | 3.6 | 4.1 | 0.4 | 1.0\n"
    "[cai]\n"
    "columns = rating | fac | value\n"
    "part_c | 1 | -0.05\n"
    "part_c | 2 | 0.05\n"
    "part_d_mapd | 1 | 0.01\n"
    "part_d_pdp | 1 | 0.02\n"
    "overall | 1 | 0.03\n";

static struct stars_params P;

static int setup(void **state)
{
    (void)state;
    char err[SG_ERRLEN];
    int rc = stars_params_parse(mini, sizeof mini - 1, "mini.txt", &P, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    return rc;
}

static void test_rounding(void **state)
{
    (void)state;
    assert_near(stars_half_star(3.749999), 3.5, EPS);
    assert_near(stars_half_star(3.75), 4.0, EPS);
    assert_near(stars_half_star(3.7499996), 4.0, EPS); /* 6-dp rounding first: 3.750000 */
    assert_near(stars_half_star(4.249999), 4.0, EPS);
    assert_near(stars_half_star(4.25), 4.5, EPS);
    assert_near(stars_half_star(5.3), 5.0, EPS); /* capped */
    assert_near(stars_half_star(0.9), 1.0, EPS);
    assert_near(stars_round_half_up(83.5, 0), 84, EPS);
    assert_near(stars_round_half_up(83.499999, 0), 83, EPS);
    assert_near(stars_round_half_up(1.005, 2), 1.01, EPS); /* binary 1.00499999... */
    assert_near(stars_round_half_up(0.125, 2), 0.13, EPS);
    assert_near(stars_round_half_up(-0.5, 0), -1, EPS);

    /* reward factor compares at 6 decimals: 101/27 = 3.7407407... counts as >= 3.740741 */
    struct stars_reward_row row = {3.740741, 4.0, 0.5, 1.0, 1};
    assert_near(stars_reward_factor(&row, 101.0 / 27.0, 0.3), 0.2, EPS);
    assert_near(stars_reward_factor(&row, 3.7407403, 0.3), 0.0, EPS); /* 3.740740 */
    assert_near(stars_reward_factor(&row, 4.0, 0.4999996), 0.3, EPS); /* var 0.500000 */
    assert_near(stars_reward_factor(&row, 4.0, 0.4), 0.4, EPS);
    assert_near(stars_reward_factor(&row, 3.8, 0.7), 0.1, EPS);
    assert_near(stars_reward_factor(&row, 4.5, 1.0), 0.0, EPS); /* high variance */
}

static void test_bands_and_stars(void **state)
{
    (void)state;
    const struct stars_measure_def *a = &P.measures[0], *c = &P.measures[2];
    /* higher is better, CMS's 2025 C30 column including the degenerate "100%" band */
    const char *hb[5] = {"< 46 % ", ">= 46 % to < 69 % ", ">= 69 % to < 93 % ", ">= 93 % to < 100 % ",
                         "100%"};
    struct stars_cut cut = {0};
    for (int s = 1; s <= 5; s++) assert_int_equal(stars_parse_band(hb[s - 1], s, 1, &cut), SG_OK);
    assert_true(cut.valid);
    assert_near(cut.t[0], 46, EPS);
    assert_near(cut.t[3], 100, EPS);
    assert_int_equal(stars_score_star(a, &cut, 45.4), 1);
    assert_int_equal(stars_score_star(a, &cut, 45.5), 2); /* rounds to 46 */
    assert_int_equal(stars_score_star(a, &cut, 92.49), 3);
    assert_int_equal(stars_score_star(a, &cut, 99), 4);
    assert_int_equal(stars_score_star(a, &cut, 99.6), 5); /* rounds to 100 */
    int next;
    assert_near(stars_distance_to_next(a, &cut, 70, &next), 23, EPS);
    assert_int_equal(next, 4);
    stars_distance_to_next(a, &cut, 100, &next);
    assert_int_equal(next, 0);

    /* lower is better, 2 decimals: 2025 complaints "> 1.39", "> 0.76 to <= 1.39", ... "<= 0.12" */
    const char *lb[5] = {"> 1.39 ", "> 0.76 to <= 1.39 ", "> 0.37 to <= 0.76 ", "> 0.12 to <= 0.37 ",
                         "<= 0.12 "};
    struct stars_cut lc = {0};
    for (int s = 1; s <= 5; s++) assert_int_equal(stars_parse_band(lb[s - 1], s, 0, &lc), SG_OK);
    assert_near(lc.t[0], 1.39, EPS);
    assert_near(lc.t[1], 0.76, EPS);
    assert_near(lc.t[2], 0.37, EPS);
    assert_near(lc.t[3], 0.12, EPS);
    assert_int_equal(stars_score_star(c, &lc, 1.40), 1);
    assert_int_equal(stars_score_star(c, &lc, 1.39), 2); /* <= 1.39 */
    assert_int_equal(stars_score_star(c, &lc, 0.765), 2); /* 0.77 after rounding */
    assert_int_equal(stars_score_star(c, &lc, 0.764), 3);
    assert_int_equal(stars_score_star(c, &lc, 0.38), 3);
    assert_int_equal(stars_score_star(c, &lc, 0.37), 4); /* "> 0.12 to <= 0.37" */
    assert_int_equal(stars_score_star(c, &lc, 0.125), 4); /* 0.13 */
    assert_int_equal(stars_score_star(c, &lc, 0.12), 5);
    assert_near(stars_distance_to_next(c, &lc, 1.0, &next), 0.24, EPS); /* to <= 0.76 */
    assert_int_equal(next, 3);

    assert_int_equal(stars_parse_band(">= 5 % to < 3", 3, 0, &lc), SG_EPARSE);
    assert_int_equal(stars_parse_band("about 5", 2, 1, &cut), SG_EPARSE);

    double v;
    int issue;
    assert_int_equal(stars_parse_score(" 76% ", &v, &issue), 1);
    assert_near(v, 76, EPS);
    assert_int_equal(stars_parse_score("-0.2", &v, &issue), 1);
    assert_int_equal(stars_parse_score("Plan too small to be measured ", &v, &issue), 0);
    assert_int_equal(issue, 0);
    assert_int_equal(stars_parse_score("CMS identified issues with this plan's data", &v, &issue), 0);
    assert_int_equal(issue, 1);
    assert_int_equal(stars_parse_score("", &v, &issue), 0);
    assert_int_equal(stars_parse_score("7x6%", &v, &issue), -1);
    assert_int_equal(stars_parse_score("n/a-ish", &v, &issue), -1);
}

/* A heap copy of s with the first `from` replaced by `to` (the caller frees). */
static char *replace_once(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void set_stars(struct stars_contract_input *in, const int *stars)
{
    for (size_t i = 0; i < P.nmeasures; i++) in->m[i].star = stars[i];
}

static void rate(const struct stars_contract_input *in, struct stars_result *r)
{
    char err[SG_ERRLEN];
    assert_int_equal(stars_rate(&P, in, NULL, NULL, r, err, sizeof err), SG_OK);
}

static void test_hold_harmless(void **state)
{
    (void)state;
    struct stars_contract_input in = {.cls = STARS_CLASS_CCP, .offers_part_d = 0};
    struct stars_result r;

    /* A: without improvement C01..C03 = 5,5,4 (w 1,3,2): mean 28/6 = 4.666667,
     * var = 3*(1/9 + 3/9 + 2*4/9)/(6*2) = 1/3 -> high mean, low var -> +0.4 -> 5.07 -> 5.0.
     * With C04 = 1 (w 5): mean 33/11 = 3.0 -> no reward -> 3.0. 5.0 >= 4 and 3.0 < 5.0:
     * hold-harmless keeps 5.0. */
    int a[7] = {5, 5, 4, 1, 0, 0, 0};
    set_stars(&in, a);
    rate(&in, &r);
    assert_near(r.highest_without_improvement.mean, 28.0 / 6, EPS);
    assert_near(r.highest_without_improvement.variance, 1.0 / 3, EPS);
    assert_near(r.highest_without_improvement.reward, 0.4, EPS);
    assert_near(r.highest_with_improvement.mean, 3.0, EPS);
    assert_near(r.highest_with_improvement.variance, 4.0 * 38 / 33, EPS);
    assert_near(r.highest_with_improvement.rating, 3.0, EPS);
    assert_true(r.part_c.rated);
    assert_near(r.part_c.rating, 5.0, EPS);
    assert_int_equal(r.hold_harmless, 1);
    assert_int_equal(r.highest, STARS_HIGHEST_PART_C);
    assert_false(r.part_d.rated);
    assert_false(r.overall.rated);

    /* B: 3,3,4 without: 20/6 = 3.333333 < 3.6 -> 3.5; with C04 = 5: 45/11 = 4.090909,
     * var = 4*(4*(12/11)^2 + 2*(1/11)^2 + 5*(10/11)^2)/(11*3) = 4*(1078/121)/33 = 1.079890
     * >= 1.0 -> no reward -> 4.0. Without is below 4, so the with result stands. */
    int b[7] = {3, 3, 4, 5, 0, 0, 0};
    set_stars(&in, b);
    rate(&in, &r);
    assert_near(r.highest_without_improvement.rating, 3.5, EPS);
    assert_near(r.highest_with_improvement.variance, 4.0 * (1078.0 / 121) / 33, EPS);
    assert_near(r.part_c.rating, 4.0, EPS);
    assert_int_equal(r.hold_harmless, 0);

    /* C: 4,4,4 without: mean 4, var 0 -> relatively high & low -> +0.2 -> 4.2 -> 4.0;
     * with C04 = 5: 49/11 = 4.454545, var = 4*(6*(5/11)^2 + 5*(6/11)^2)/33 = 0.330579
     * -> +0.4 -> 4.854545 -> 5.0, higher than 4.0: the with result is used. */
    int c[7] = {4, 4, 4, 5, 0, 0, 0};
    set_stars(&in, c);
    rate(&in, &r);
    assert_near(r.highest_without_improvement.rating, 4.0, EPS);
    assert_near(r.highest_with_improvement.variance, 4.0 * (6 * 25.0 / 121 + 5 * 36.0 / 121) / 33,
                       EPS);
    assert_near(r.part_c.rating, 5.0, EPS);
    assert_int_equal(r.hold_harmless, 0);

    /* CAI: FAC 2 adds 0.05 to case B's 4.090909 -> 4.140909 -> still 4.0; FAC 1 subtracts
     * 0.05 from case C's 4.854545 -> 4.804545 -> 5.0 */
    in.fac[STARS_PART_C] = 1;
    rate(&in, &r);
    assert_near(r.part_c.cai, -0.05, EPS);
    assert_near(r.part_c.raw, 49.0 / 11 + 0.4 - 0.05, EPS);
    in.fac[STARS_PART_C] = 9; /* outside the table */
    char err[SG_ERRLEN];
    assert_int_equal(stars_rate(&P, &in, NULL, NULL, &r, err, sizeof err), SG_EINVAL);
    assert_non_null(strstr(err, "adjustment_category.part_c"));
}

static void test_too_few_measures(void **state)
{
    (void)state;
    struct stars_contract_input in = {.cls = STARS_CLASS_CCP};
    struct stars_result r;
    /* one rated measure plus the improvement measure: improvement is not counted, 1 < 2 */
    int a[7] = {4, 0, 0, 5, 0, 0, 0};
    set_stars(&in, a);
    rate(&in, &r);
    assert_false(r.part_c.rated);
    assert_int_equal(r.highest_with_improvement.n_counted, 1);
    assert_int_equal(r.highest_with_improvement.n_required, 2);
    assert_non_null(strstr(r.explanation, "not rated"));
    int b[7] = {4, 2, 0, 5, 0, 0, 0};
    set_stars(&in, b);
    rate(&in, &r);
    assert_true(r.part_c.rated);

    /* derived minimum: with C03 marked not required, n = 2 required -> need 1 */
    int c[7] = {4, 0, 0, 0, 0, 0, 0};
    set_stars(&in, c);
    in.m[2].not_required = 1;
    rate(&in, &r);
    assert_true(r.part_c.rated);
    assert_int_equal(r.part_c.n_required, 1);
}

static void test_overall_and_pr(void **state)
{
    (void)state;
    struct stars_contract_input in = {.cls = STARS_CLASS_CCP, .offers_part_d = 1};
    struct stars_result r;
    /* C: 5,4,3 (w 1,3,2); D: 4,4,1 (w 1,3,2). Part D mean = (4+12+2)/6 = 3.0.
     * Overall leaves out D03 (counted once): (5+12+6+4+12)/(1+3+2+1+3) = 39/10 = 3.9. */
    int s[7] = {5, 4, 3, 0, 4, 4, 1};
    set_stars(&in, s);
    rate(&in, &r);
    assert_near(r.part_d.mean, 3.0, EPS);
    assert_near(r.overall.mean, 3.9, EPS);
    assert_int_equal(r.overall.n, 5);
    /* the domain stars: HD1 = round(12/3) = 4, DD1 = round(9/3) = 3 */
    assert_int_equal(r.domain_star[0], 4);
    assert_int_equal(r.domain_star[1], 3);
    /* Puerto Rico only: D02 weight 0 -> Part D (4 + 2)/3 = 2.0, still eligible (3 counted) */
    in.puerto_rico_only = 1;
    rate(&in, &r);
    assert_near(r.part_d.mean, 2.0, EPS);
    assert_int_equal(r.part_d.n_counted, 3);
    assert_near(r.m[5].weight, 0, EPS);
    /* an MA-only contract gets no Part D even with D stars given */
    in.offers_part_d = 0;
    rate(&in, &r);
    assert_false(r.part_d.rated);
    assert_int_equal(r.m[4].star, 0);
}

static void test_disaster_and_scores(void **state)
{
    (void)state;
    struct stars_cut cuts[2 * STARS_MAX_MEASURES];
    memset(cuts, 0, sizeof cuts);
    for (int i = 0; i < 7; i++) { /* 2/3/4/5-star thresholds 50, 60, 70, 80 for every measure */
        for (int k = 0; k < 4; k++) {
            cuts[2 * i].t[k] = cuts[2 * i + 1].t[k] = 50 + 10 * k;
            cuts[2 * i].present[k] = cuts[2 * i + 1].present[k] = 1;
        }
        cuts[2 * i].valid = cuts[2 * i + 1].valid = 1;
    }
    struct stars_contract_input in = {.cls = STARS_CLASS_CCP, .offers_part_d = 1};
    in.m[0] = (struct stars_measure_input){.has_score = 1, .score = 55, .prior_star = 4};
    in.m[1] = (struct stars_measure_input){.has_score = 1, .score = 64.5, .prior_star = 1};
    in.m[4] = (struct stars_measure_input){.has_score = 1, .score = 51, .prior_star = 5};
    in.m[5] = (struct stars_measure_input){.has_score = 1, .score = 99, .data_issue = 1};
    struct stars_result r;
    char err[SG_ERRLEN];
    in.disaster_pct = 10;
    assert_int_equal(stars_rate(&P, &in, cuts, NULL, &r, err, sizeof err), SG_OK);
    assert_int_equal(r.m[0].star, 2);
    assert_int_equal(r.m[0].source, STARS_SRC_SCORE);
    assert_near(r.m[0].distance, 5, EPS);
    assert_int_equal(r.m[0].next_star, 3);
    assert_int_equal(r.m[1].star, 3); /* 64.5 -> 65 */
    assert_int_equal(r.m[5].star, 1);
    assert_int_equal(r.m[5].source, STARS_SRC_DATA_ISSUE);
    in.disaster_pct = 25; /* >= 25: the higher of this and last year's star */
    assert_int_equal(stars_rate(&P, &in, cuts, NULL, &r, err, sizeof err), SG_OK);
    assert_int_equal(r.m[0].star, 4);
    assert_int_equal(r.m[0].source, STARS_SRC_PRIOR_YEAR);
    assert_int_equal(r.m[1].star, 3);  /* prior lower: current kept */
    assert_int_equal(r.m[4].star, 2);  /* call center (no_disaster): not adjusted */
    assert_int_equal(r.m[5].star, 1);  /* data issue: missing data, current year */
    assert_true(r.disaster_affected);

    /* validation names the field */
    in.m[0].score = 101;
    assert_int_equal(stars_rate(&P, &in, cuts, NULL, &r, err, sizeof err), SG_ERANGE);
    assert_string_equal(err, "measures.AAA: score 101 is outside 0..100");
    in.m[0].score = 55;
    in.m[2] = (struct stars_measure_input){.has_score = 1, .score = -0.5};
    assert_int_equal(stars_rate(&P, &in, cuts, NULL, &r, err, sizeof err), SG_ERANGE);
    assert_string_equal(err, "measures.CCC: score -0.5 is negative");
    in.m[2] = (struct stars_measure_input){.star = 6};
    assert_int_equal(stars_rate(&P, &in, cuts, NULL, &r, err, sizeof err), SG_EINVAL);
    assert_string_equal(err, "measures.CCC: star must be 1..5");
}

static void test_new_measure_hold_harmless(void **state)
{
    (void)state;
    /* the mini year with C02 (weight 3) marked new and new-measure thresholds */
    char *t1 = replace_once(mini, "new_measure_thresholds = no", "new_measure_thresholds = yes");
    char *text = replace_once(t1, "| no | - | Measure B", "| no | new | Measure B");
    free(t1);
    static struct stars_params q;
    char err[SG_ERRLEN];
    int rc = stars_params_parse(text, strlen(text), "new.txt", &q, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_true(q.new_measure_thresholds);
    assert_true(q.measures[1].flags & STARS_F_NEW);
    /* MA-only, C01 = 5, C02 (new) = 1, C03 = 5.
     * With the new measure: mean (5 + 3 + 10)/6 = 3.0, variance 3*(4 + 12 + 8)/(6*2) = 6 -> 3.0.
     * Without it: mean 5, variance 0 -> +0.4 -> 5.0. A disaster-affected contract gets the higher,
     * 5.0; an unaffected one 3.0. */
    struct stars_contract_input in = {.cls = STARS_CLASS_CCP};
    in.m[0].star = 5;
    in.m[1].star = 1;
    in.m[2].star = 5;
    struct stars_result r;
    assert_int_equal(stars_rate(&q, &in, NULL, NULL, &r, err, sizeof err), SG_OK);
    assert_near(r.part_c.rating, 3.0, EPS);
    assert_near(r.part_c.variance, 6.0, EPS);
    assert_false(r.new_measure_hold_harmless);
    in.disaster_pct = 30;
    assert_int_equal(stars_rate(&q, &in, NULL, NULL, &r, err, sizeof err), SG_OK);
    assert_near(r.part_c.rating, 5.0, EPS);
    assert_int_equal(r.part_c.with_new, 0);
    assert_true(r.new_measure_hold_harmless);
    assert_non_null(strstr(r.explanation, "without the new measures"));
    free(text);
}

/* Brute-force Ward over all cluster pairs (not only neighbours), O(n^3), for cross-checks. */
static void ward_naive(const double *x, int n, int k, int *label)
{
    double sum[64], cnt[64];
    int alive[64], owner[64];
    for (int i = 0; i < n; i++) {
        sum[i] = x[i];
        cnt[i] = 1;
        alive[i] = 1;
        owner[i] = i;
    }
    for (int c = n; c > k; c--) {
        double best = INFINITY;
        int bi = -1, bj = -1;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) {
                if (!alive[i] || !alive[j]) continue;
                double d = sum[i] / cnt[i] - sum[j] / cnt[j];
                double cost = cnt[i] * cnt[j] / (cnt[i] + cnt[j]) * d * d;
                if (cost < best - 1e-12) {
                    best = cost;
                    bi = i;
                    bj = j;
                }
            }
        sum[bi] += sum[bj];
        cnt[bi] += cnt[bj];
        alive[bj] = 0;
        for (int t = 0; t < n; t++)
            if (owner[t] == bj) owner[t] = bi;
    }
    for (int t = 0; t < n; t++) label[t] = owner[t];
}

static void test_ward(void **state)
{
    (void)state;
    /* Worked by hand: neighbour costs d^2/2 = 0.5 for (1,2), (2,3), (10,11), (30,31); the
     * leftmost (1,2) merges first; then ({1,2},3) costs 2/3*1.5^2 = 1.5 while (10,11) and
     * (30,31) cost 0.5 and merge; with 6 clusters left the cheapest is ({1,2},3) = 1.5 (next:
     * (3,{10,11}) = 2/3*7.5^2 = 37.5). Result: {1,2,3} {10,11} {20} {30,31} {50}. */
    double x[9] = {20, 1, 31, 2, 50, 3, 10, 30, 11};
    int want[9] = {2, 0, 3, 0, 4, 0, 1, 3, 1};
    int lab[9], nc;
    assert_int_equal(stars_ward(x, 9, 5, lab, &nc), SG_OK);
    assert_int_equal(nc, 5);
    for (int i = 0; i < 9; i++) assert_int_equal(lab[i], want[i]);
    /* fewer distinct values than clusters */
    double y[4] = {7, 7, 9, 9};
    assert_int_equal(stars_ward(y, 4, 5, lab, &nc), SG_OK);
    assert_int_equal(nc, 2);
    assert_int_equal(stars_ward(y, 0, 5, lab, &nc), SG_EINVAL);

    /* random inputs: the neighbour-only heap algorithm partitions like brute-force Ward */
    uint32_t s = 12345;
    for (int round = 0; round < 200; round++) {
        int n = 6 + round % 30;
        double v[64];
        for (int i = 0; i < n; i++) {
            s = s * 1103515245u + 12345u;
            v[i] = (double)((s >> 8) % 100000) / 1000.0; /* distinct with high probability */
        }
        int a[64], b[64];
        assert_int_equal(stars_ward(v, (size_t)n, 5, a, &nc), SG_OK);
        ward_naive(v, n, 5, b);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) assert_int_equal(a[i] == a[j], b[i] == b[j]);
    }
}

static void test_percentile_and_fences(void **state)
{
    (void)state;
    /* PCTLDEF=5: n*p integer -> mean of the two order statistics, else the next one up */
    double x8[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_near(stars_percentile(x8, 8, 0.25), 2.5, EPS);
    assert_near(stars_percentile(x8, 8, 0.75), 6.5, EPS);
    double x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_near(stars_percentile(x9, 9, 0.25), 3, EPS);
    /* Tukey outer fences of 40,50,...,110 capped: Q1 = 55, Q3 = 95 (n=8), IQR 40 ->
     * [55-120, 95+120] capped to [0, 100]; the restricted range is 100 - 40 = 60 with the
     * out-of-range 110 excluded. */
    const struct stars_measure_def *a = &P.measures[0];
    double sc[8] = {40, 50, 60, 70, 80, 90, 100, 110};
    double lo, hi;
    assert_near(stars_restricted_range(a, sc, 8, &lo, &hi), 60, EPS);
    assert_near(lo, 0, EPS);
    assert_near(hi, 100, EPS);
}

static void test_cutpoints_and_guardrails(void **state)
{
    (void)state;
    const struct stars_measure_def *a = &P.measures[0], *c = &P.measures[2];
    double sc[60];
    /* five tight groups of 12 (20, 40, 60, 80, 95): every run clusters them exactly, so the
     * cut points are the groups' minimums 40, 60, 80, 95 whatever the folds */
    const double g[5] = {20, 40, 60, 80, 95};
    for (int i = 0; i < 60; i++) sc[i] = g[i % 5];
    struct stars_cut_options o;
    stars_cut_options_default(&o);
    struct stars_cut out;
    char err[SG_ERRLEN];
    assert_int_equal(stars_cutpoints(a, sc, 60, NULL, 0, &o, &out, err, sizeof err), SG_OK);
    for (int k = 0; k < 4; k++) assert_near(out.t[k], g[k + 1], EPS);
    o.folds = 1;
    o.outlier_deletion = 0;
    assert_int_equal(stars_cutpoints(a, sc, 60, NULL, 0, &o, &out, err, sizeof err), SG_OK);
    assert_near(out.t[0], 40, EPS);

    /* guardrails, 0-100 measure: +-5 points around the prior 30/58/82/99 -> 35, 60, 80, 95 */
    struct stars_cut prior = {1, {30, 58, 82, 99}, {1, 1, 1, 1}};
    assert_int_equal(stars_cutpoints(a, sc, 60, &prior, 0, &o, &out, err, sizeof err), SG_OK);
    assert_near(out.t[0], 35, EPS);
    assert_near(out.t[1], 60, EPS);
    assert_near(out.t[2], 80, EPS);
    assert_near(out.t[3], 95, EPS);
    o.guardrails = 0;
    assert_int_equal(stars_cutpoints(a, sc, 60, &prior, 0, &o, &out, err, sizeof err), SG_OK);
    assert_near(out.t[0], 40, EPS);
    o.guardrails = 1;

    /* lower is better, non-percentage: cut point = the cluster's maximum; groups 0.1 .. 0.9 ->
     * 5 stars <= 0.1, 4 <= 0.3, 3 <= 0.5, 2 <= 0.7. Guardrail cap = 5% of the prior restricted
     * range 2.0 = 0.1: prior 0.5/0.45/0.3/0.1 -> 0.6, 0.5, 0.3, 0.1. */
    const double h[5] = {0.1, 0.3, 0.5, 0.7, 0.9};
    for (int i = 0; i < 60; i++) sc[i] = h[i % 5];
    assert_int_equal(stars_cutpoints(c, sc, 60, NULL, 0, &o, &out, err, sizeof err), SG_OK);
    assert_near(out.t[0], 0.7, EPS);
    assert_near(out.t[3], 0.1, EPS);
    struct stars_cut lp = {1, {0.5, 0.45, 0.3, 0.1}, {1, 1, 1, 1}};
    assert_int_equal(stars_cutpoints(c, sc, 60, &lp, 2.0, &o, &out, err, sizeof err), SG_OK);
    assert_near(out.t[0], 0.6, EPS);
    assert_near(out.t[1], 0.5, EPS);
    assert_near(out.t[2], 0.3, EPS);
    assert_near(out.t[3], 0.1, EPS);

    /* improvement measure: below zero 2 groups (-0.3, -0.1) -> 2 stars from -0.1; at/above
     * zero 3 groups (0.05, 0.2, 0.5) -> 3 stars from 0, 4 from 0.2, 5 from 0.5; no guardrail */
    const struct stars_measure_def *imp = &P.measures[3];
    const double q[5] = {-0.3, -0.1, 0.05, 0.2, 0.5};
    for (int i = 0; i < 60; i++) sc[i] = q[i % 5];
    assert_int_equal(stars_cutpoints(imp, sc, 60, &prior, 0, &o, &out, err, sizeof err), SG_OK);
    assert_near(out.t[0], -0.1, EPS);
    assert_near(out.t[1], 0, EPS);
    assert_near(out.t[2], 0.2, EPS);
    assert_near(out.t[3], 0.5, EPS);

    /* outlier deletion: 59 scores in 60..64 and one 0; Q1 = 61, Q3 = 63 -> fences [55, 69]
     * drop the 0, so the lowest cluster starts at 60, not 0 */
    for (int i = 0; i < 60; i++) sc[i] = 60 + i % 5;
    sc[0] = 0;
    o.outlier_deletion = 1;
    assert_int_equal(stars_cutpoints(a, sc, 60, NULL, 0, &o, &out, err, sizeof err), SG_OK);
    assert_near(out.t[0], 61, EPS);
    assert_near(out.t[3], 64, EPS);
    o.outlier_deletion = 0;
    assert_int_equal(stars_cutpoints(a, sc, 60, NULL, 0, &o, &out, err, sizeof err), SG_OK);
    assert_near(out.t[0], 60, EPS); /* {0} alone is 1 star; 60 starts 2 stars */

    assert_int_equal(stars_cutpoints(a, sc, 3, NULL, 0, &o, &out, err, sizeof err), SG_EINVAL);
}

static void test_projection(void **state)
{
    (void)state;
    static struct stars_cut cuts[2 * STARS_MAX_MEASURES], best[2 * STARS_MAX_MEASURES],
        worst[2 * STARS_MAX_MEASURES];
    memset(cuts, 0, sizeof cuts);
    /* C01 (0-100, higher): 50/60/70/80 -> best 45/55/65/75, worst 55/65/75/85 */
    cuts[0] = (struct stars_cut){1, {50, 60, 70, 80}, {1, 1, 1, 1}};
    /* C03 (lower, non-negative, 2 dp): 1.39/0.76/0.37/0.12, range 2.0 -> cap 0.10:
     * best 1.49/0.86/0.47/0.22 */
    cuts[4] = (struct stars_cut){1, {1.39, 0.76, 0.37, 0.12}, {1, 1, 1, 1}};
    /* C04 (improvement, no guardrail): unchanged */
    cuts[6] = (struct stars_cut){1, {-0.1, 0, 0.2, 0.5}, {1, 1, 1, 1}};
    double ranges[STARS_MAX_MEASURES] = {0};
    ranges[2] = 2.0;
    stars_projection_cuts(&P, cuts, ranges, 1, best);
    stars_projection_cuts(&P, cuts, ranges, 0, worst);
    assert_near(best[0].t[0], 45, EPS);
    assert_near(worst[0].t[3], 85, EPS);
    assert_near(best[4].t[0], 1.49, EPS);
    assert_near(best[4].t[3], 0.22, EPS);
    assert_near(worst[4].t[3], 0.02, EPS);
    assert_near(best[6].t[2], 0.2, EPS);
    /* score 57 on C01: 2 stars now, 3 in the best case, 2 in the worst; 0.8 on C03: 2 now,
     * 3 in the best case (<= 0.86) */
    assert_int_equal(stars_score_star(&P.measures[0], &cuts[0], 57), 2);
    assert_int_equal(stars_score_star(&P.measures[0], &best[0], 57), 3);
    assert_int_equal(stars_score_star(&P.measures[0], &worst[0], 57), 2);
    assert_int_equal(stars_score_star(&P.measures[2], &best[4], 0.8), 3);
}

static void expect_parse_error(const char *text, const char *needle)
{
    static struct stars_params p;
    char err[SG_ERRLEN] = "";
    assert_int_not_equal(stars_params_parse(text, strlen(text), "bad.txt", &p, err, sizeof err), SG_OK);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_params_errors(void **state)
{
    (void)state;
    char *t = strdup(mini);
    char *w = strstr(t, "| 3 | higher | 0 | pct | cluster | no | - | Measure B");
    w[2] = 'x'; /* weight "x" */
    expect_parse_error(t, "bad.txt:12: column weight: not a number (got 'x')");
    free(t);
    t = strdup(mini);
    w = strstr(t, "no_disaster");
    memcpy(w, "no_disasteX", 11);
    expect_parse_error(t, "bad.txt:15: column flags: unknown flag (got 'no_disasteX')");
    free(t);
    expect_parse_error("[year]\nstar_year = 2030\n[measures]\nC01 | X\n",
                       "bad.txt:4: a table section must start with 'columns = ...'");
    expect_parse_error("[bogus]\n", "bad.txt:1: unknown section");
    expect_parse_error("[year]\nstar_year = 1990\n", "column star_year: out of range");
    t = strdup(mini);
    w = strstr(t, "C02 | BBB");
    memcpy(w, "C01 | BBB", 9);
    expect_parse_error(t, "duplicate CMS id");
    free(t);
    assert_int_equal(stars_find_code(&P, "ccc-d"), 6);
    assert_int_equal(stars_find_name(&P, 'D', "D03: Measure   C"), 6);
    assert_int_equal(stars_find_name(&P, 'C', "C09: measure c"), 2);
    assert_int_equal(stars_find_name(&P, 'C', "Nope"), -1);
}

static void test_shipped_years(void **state)
{
    (void)state;
    static const char *const member[] = {"BCS", "COL", "CBP", "GSD", "EED", "SUPD",
                                         "PDC-DR", "PDC-RASA", "PDC-STA"};
    for (int y = 2024; y <= 2026; y++) {
        char path[512], err[SG_ERRLEN];
        snprintf(path, sizeof path, "%s/data/stars/%d.txt", STARGAP_SOURCE_DIR, y);
        char *text;
        size_t len;
        assert_int_equal(sg_read_file(path, 1 << 20, &text, &len, err, sizeof err), SG_OK);
        static struct stars_params p;
        int rc = stars_params_parse(text, len, path, &p, err, sizeof err);
        if (rc) fail_msg("%s", err);
        free(text);
        assert_int_equal(p.star_year, y);
        /* TN: 2024/2025 have 42 measures (30 C + 12 D), 2026 has 45 (33 C + 12 D) */
        assert_int_equal(p.nmeasures, y == 2026 ? 45 : 42);
        for (size_t k = 0; k < sizeof member / sizeof *member; k++) {
            int i = stars_find_code(&p, member[k]);
            assert_true(i >= 0);
            assert_int_equal(p.measures[i].member_level, 1);
        }
        int ked = stars_find_code(&p, "KED");
        assert_true(y == 2026 ? ked >= 0 : ked < 0);
        /* the blood sugar measure is intermediate outcome weight 3; PCR is lower-is-better */
        assert_near(p.measures[stars_find_code(&p, "GSD")].weight, 3, EPS);
        assert_int_equal(p.measures[stars_find_code(&p, "PCR")].higher_is_better, 0);
        /* TN26 l.389: patient experience / access weight 4 through 2025, 2 in 2026 */
        assert_near(p.measures[stars_find_code(&p, "appeals-timely")].weight, y == 2026 ? 2 : 4,
                           EPS);
        /* 2025 CAI overall FAC 1 = -0.058127 (TN25 Table 21) */
        if (y == 2025) assert_near(p.cai[STARS_OVERALL][0], -0.058127, EPS);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_bands_and_stars),
        cmocka_unit_test(test_hold_harmless),
        cmocka_unit_test(test_too_few_measures),
        cmocka_unit_test(test_overall_and_pr),
        cmocka_unit_test(test_disaster_and_scores),
        cmocka_unit_test(test_new_measure_hold_harmless),
        cmocka_unit_test(test_ward),
        cmocka_unit_test(test_percentile_and_fences),
        cmocka_unit_test(test_cutpoints_and_guardrails),
        cmocka_unit_test(test_projection),
        cmocka_unit_test(test_params_errors),
        cmocka_unit_test(test_shipped_years),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
