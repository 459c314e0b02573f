/* test_ecqm_cases.c: every published eCQM test case (tests/data/ecqm/cases, copied from the
 * cqframework ecqm-content-qicore-2024 MADiE exports) must agree with its expected individual
 * MeasureReport on all four populations. Two CMS122 cases are documented exceptions (see
 * docs/MEASURES.md): GMIGreaterThan9 and HbA1cGreaterThan9 expect numerator 1, but their
 * Observation carries a coded value (SNOMED 374166001) instead of a percentage, so under the CQL
 * (`value as Quantity > 9 '%'` is null and the value is not null) the numerator is 0; for these
 * the test asserts 0 and the other three populations as expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "measures/measures.h"

static const char *const exceptions[] = {
    "6630d394-c81d-42f5-a218-40b73a2a4949", /* CMS122 NUMPass GMIGreaterThan9 */
    "8956ebb5-d3c0-4112-a34a-200961713efd", /* CMS122 NUMPass HbA1cGreaterThan9 */
};

struct tally {
    int total[MEAS_COUNT], agree[MEAS_COUNT], failures, exceptions_seen;
};

static void on_case(const struct meas_case *c, void *ud)
{
    struct tally *t = ud;
    t->total[c->id]++;
    if (c->error) {
        printf("ERROR %s %s %s: %s\n", meas_info(c->id)->cms, c->uuid, c->title, c->errmsg);
        t->failures++;
        return;
    }
    for (size_t i = 0; i < sizeof exceptions / sizeof exceptions[0]; i++) {
        if (strcmp(c->uuid, exceptions[i])) continue;
        t->exceptions_seen++;
        /* expected numerator 1 in the export; the CQL gives 0 (coded value, not a percentage) */
        int ok = c->id == MEAS_CMS122 && c->expected.numerator == 1 && c->got.numerator == 0 &&
                 c->got.initial_population == c->expected.initial_population &&
                 c->got.denominator == c->expected.denominator &&
                 c->got.denominator_exclusion == c->expected.denominator_exclusion;
        if (!ok) {
            printf("EXCEPTION CASE CHANGED %s %s\n", c->uuid, c->title);
            t->failures++;
        } else {
            printf("documented exception %s %s: numerator 0 (coded value, not a %% quantity)\n",
                   c->uuid, c->title);
        }
        return;
    }
    if (c->agree) {
        t->agree[c->id]++;
        return;
    }
    t->failures++;
    printf("DISAGREE %s %s %s: expected ip=%d den=%d denex=%d num=%d got ip=%d den=%d denex=%d "
           "num=%d\n",
           meas_info(c->id)->cms, c->uuid, c->title, c->expected.initial_population,
           c->expected.denominator, c->expected.denominator_exclusion, c->expected.numerator,
           c->got.initial_population, c->got.denominator, c->got.denominator_exclusion,
           c->got.numerator);
}

static void test_all_cases(void **state)
{
    (void)state;
    char err[SG_ERRLEN];
    struct meas_engine *eng = NULL;
    assert_int_equal(meas_engine_new(STARGAP_SOURCE_DIR "/data/valuesets", &eng, err, sizeof err),
                     SG_OK);
    struct tally t;
    memset(&t, 0, sizeof t);
    assert_int_equal(
        meas_run_cases(eng, STARGAP_TEST_DATA "/ecqm/cases", on_case, &t, err, sizeof err), SG_OK);
    for (int m = 0; m < MEAS_COUNT; m++)
        printf("%s: %d/%d agree\n", meas_info((enum meas_id)m)->cms, t.agree[m], t.total[m]);
    /* case counts of the shared export (tests/data/ecqm/cases) */
    assert_int_equal(t.total[MEAS_CMS125], 40);
    assert_int_equal(t.total[MEAS_CMS130], 43);
    assert_int_equal(t.total[MEAS_CMS165], 37);
    assert_int_equal(t.total[MEAS_CMS122], 33);
    assert_int_equal(t.total[MEAS_CMS131], 36);
    assert_int_equal(t.exceptions_seen, 2);
    assert_int_equal(t.failures, 0);
    meas_engine_free(eng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_all_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
