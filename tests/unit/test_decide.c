/* test_decide.c: the pieces of the issue-7 wiring that need no database: the cut-point file of a
 * star year (data/stars/cuts/2026.csv, CMS's published 2026 table) read into the engine's
 * stars_cut layout, its error messages, and the rater adapter over stars_rate() against a direct
 * stars_rate() call. Expected thresholds are the published 2026 values written here. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include "core/fileio.h"
#include "decide/decide.h"

static struct stars_params params;
static struct stars_cut cuts[2 * STARS_MAX_MEASURES];

static void load_2026(void)
{
    char err[SG_ERRLEN], *text;
    size_t len;
    assert_int_equal(sg_read_file(STARGAP_SOURCE_DIR "/data/stars/2026.txt", 1 << 20, &text, &len,
                                  err, sizeof err),
                     SG_OK);
    assert_int_equal(stars_params_parse(text, len, "2026.txt", &params, err, sizeof err), SG_OK);
    free(text);
    int rc = dc_cuts_load(&params, STARGAP_SOURCE_DIR "/data/stars/cuts/2026.csv", cuts, err,
                          sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, SG_OK);
}

static void expect_cut(const char *code, int pdp, double t2, double t3, double t4, double t5)
{
    int j = stars_find_code(&params, code);
    assert_true(j >= 0);
    const struct stars_cut *c = &cuts[2 * j + pdp];
    assert_true(c->valid);
    double want[4] = {t2, t3, t4, t5};
    for (int k = 0; k < 4; k++) {
        assert_true(c->present[k]);
        if (fabs(c->t[k] - want[k]) > 1e-9)
            fprintf(stderr, "%s[%d]: %g, want %g\n", code, k, c->t[k], want[k]);
        assert_true(fabs(c->t[k] - want[k]) < 1e-9);
    }
}

static void test_cuts_2026(void **state)
{
    (void)state;
    load_2026();
    /* published 2026 cut points (CMS Star Ratings technical notes, cut point tables) */
    expect_cut("GSD", 0, 54, 77, 87, 91);
    expect_cut("CBP", 0, 67, 75, 80, 86);
    expect_cut("BCS", 0, 58, 71, 76, 84);
    expect_cut("PCR", 0, 12, 10, 9, 7); /* lower is better: "> 12 %" is 1 star */
    expect_cut("CTM-C", 0, 1.34, 0.71, 0.32, 0.11);
    expect_cut("PDC-DR", 0, 83, 86, 89, 92); /* MA-PD */
    expect_cut("PDC-DR", 1, 85, 87, 89, 92); /* PDP */
    /* the engine agrees: GSD 87% is 4 stars, 86.5% displays as 87% too, 86.4% is 3 */
    int j = stars_find_code(&params, "GSD");
    assert_int_equal(stars_score_star(&params.measures[j], &cuts[2 * j], 87.0), 4);
    assert_int_equal(stars_score_star(&params.measures[j], &cuts[2 * j], 86.5), 4);
    assert_int_equal(stars_score_star(&params.measures[j], &cuts[2 * j], 86.4), 3);
}

static void test_cuts_errors(void **state)
{
    (void)state;
    load_2026();
    char err[SG_ERRLEN], path[] = "/tmp/sg-decide-cuts-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *bad =
        "plan,cms_id,measure,star1,star2,star3,star4,star5\n"
        "MA,C12,GSD,< 54 %,>= 54 % to < 77 %,>= 77 % to < 87 %,>= 87 % to < 91 %,>= 91 %\n"
        "MA,C99,Nothing,< 1,>= 1,>= 2,>= 3,>= 4\n";
    assert_true(write(fd, bad, strlen(bad)) == (ssize_t)strlen(bad));
    close(fd);
    assert_int_equal(dc_cuts_load(&params, path, cuts, err, sizeof err), SG_EPARSE);
    assert_non_null(strstr(err, ":3:"));
    assert_non_null(strstr(err, "cms_id"));
    FILE *f = fopen(path, "w");
    fputs("plan,cms_id,measure,star1,star2,star3,star4,star5\nMA,C12,GSD,< 54 %,junk,x,y,z\n", f);
    fclose(f);
    assert_int_equal(dc_cuts_load(&params, path, cuts, err, sizeof err), SG_EPARSE);
    assert_non_null(strstr(err, "star2"));
    unlink(path);
    assert_int_equal(dc_cuts_load(&params, "/nonexistent/2031.csv", cuts, err, sizeof err),
                     SG_ENOTFOUND);
    assert_non_null(strstr(err, "no cut points for star year 2026"));
}

static void test_adapter(void **state)
{
    (void)state;
    load_2026();
    struct dc_rater a;
    memset(&a, 0, sizeof a);
    a.params = &params;
    a.base.cls = STARS_CLASS_CCP;
    a.base.offers_part_d = 1;
    for (size_t i = 0; i < params.nmeasures; i++)
        a.base.m[i].not_required = 1;
    const char *codes[4] = {"GSD", "CBP", "BCS", "PDC-DR"};
    for (int k = 0; k < 4; k++)
        a.idx[k] = stars_find_code(&params, codes[k]);
    int st[4] = {4, 2, 3, 5};
    struct pf_ratings pr;
    assert_int_equal(dc_rater_rate(&a, st, 4, &pr), SG_OK);
    /* Part C: weights 3,3,1 -> (12 + 6 + 3) / 7 = 3.0; Part D: PDC-DR alone 5 stars (no reward
     * factor: a single measure has no variance); overall (12+6+3+15)/10 = 3.6 plus reward */
    struct stars_contract_input in = a.base;
    for (int k = 0; k < 4; k++) {
        in.m[a.idx[k]].not_required = 0;
        in.m[a.idx[k]].star = st[k];
    }
    struct stars_result r;
    char err[SG_ERRLEN];
    assert_int_equal(stars_rate(&params, &in, NULL, NULL, &r, err, sizeof err), SG_OK);
    assert_true(r.part_c.rated);
    assert_true(fabs(r.part_c.mean - 3.0) < 1e-12);
    assert_true(fabs(r.overall.mean - 3.6) < 1e-12);
    assert_true(pr.part_c == r.part_c.rating && pr.overall == r.overall.rating);
    assert_true(fabs(pr.overall_raw - r.overall.raw) < 1e-12);
    /* the callback leaves the base untouched (reentrant) */
    for (int k = 0; k < 4; k++)
        assert_int_equal(a.base.m[a.idx[k]].star, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuts_2026),
        cmocka_unit_test(test_cuts_errors),
        cmocka_unit_test(test_adapter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
