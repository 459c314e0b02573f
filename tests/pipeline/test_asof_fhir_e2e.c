/* test_asof_fhir_e2e.c: the as-of day from FHIR data, end to end through the real binary
 * (issue 7, the FHIR path). `stargap generate` writes one seed twice, as CSV and as FHIR
 * (2023-2025, 2025 observed as of the default 09-30). The CSV's 2025 numerator dates are blanked,
 * so every date of 2025 in the database can only come from the FHIR data, which `stargap run`
 * evaluates from input/fhir/CONTRACT/ (the measure engine, `measure eval --db`; its results
 * override the CSV's for BCS, COL, CBP, GSD and EED).
 *
 * Checked against the untouched CSV of the same seed: the run prints as its as-of day the latest
 * 2025 numerator_date of those five measures in the CSV, and the database holds, per measure,
 * exactly the CSV's dated met rows of 2025 (the same count on every day of the year), on rows of
 * source fhir; the as-of training of 2024 runs on them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/pl_test_util.h"

#include <sqlite3.h>

#include "core/fileio.h"

#define BIN STARGAP_BINARY
#define VSDIR STARGAP_SOURCE_DIR "/data/valuesets"
#define ENV "STARGAP_HASH_KEY=asof-fhir-e2e-key-0123456789 STARGAP_LOG_LEVEL=warn "
#define NF 5

static const char *const CODES[NF] = {"BCS", "COL", "CBP", "GSD", "EED"};
static char g_dir[256];

static int code_index(const char *c)
{
    for (int k = 0; k < NF; k++)
        if (!strcmp(c, CODES[k])) return k;
    return -1;
}

/* Day of the year 0..365 of "2025-MM-DD" (month * 31 + day: a key, not a calendar day). */
static int day_key(const char *d)
{
    int y, m, dd;
    assert_int_equal(sscanf(d, "%d-%d-%d", &y, &m, &dd), 3);
    assert_int_equal(y, 2025);
    return (m - 1) * 31 + (dd - 1);
}

static void test_asof_from_fhir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/sg_asof_fhir_%d", (int)getpid());
    assert_int_equal(sh("rm -rf %s && mkdir -p %s/csv %s/in/fhir", g_dir, g_dir, g_dir), 0);
    const char *gen = ENV "%s generate --members 4000 --contracts 3 --years 2023-2025 --seed 21 "
                          "%s --out %s > /dev/null";
    char out[512];
    snprintf(out, sizeof out, "%s/in", g_dir);
    assert_int_equal(sh(gen, BIN, "", out), 0);
    snprintf(out, sizeof out, "%s/in/fhir/H1000", g_dir);
    char fmt[512];
    snprintf(fmt, sizeof fmt, "--format fhir --valuesets %s", VSDIR);
    assert_int_equal(sh(gen, BIN, fmt, out), 0);
    /* keep the CSV, then blank the 2025 dates of the input */
    assert_int_equal(sh("cp %s/in/measure_results.csv %s/csv/ && awk -F, 'BEGIN{OFS=\",\"} "
                        "NR > 1 && $3 == 2025 {$8 = \"\"} {print}' %s/csv/measure_results.csv > "
                        "%s/in/measure_results.csv",
                        g_dir, g_dir, g_dir, g_dir),
                     0);

    /* the CSV's dated met rows of 2025 per measure and day */
    static long want[NF][12 * 31], got[NF][12 * 31];
    memset(want, 0, sizeof want);
    memset(got, 0, sizeof got);
    char path[512];
    snprintf(path, sizeof path, "%s/csv/measure_results.csv", g_dir);
    char *s = slurp(path), *save = NULL, *line = strtok_r(s, "\n", &save);
    char latest[16] = "";
    long dated = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char id[32], code[16], date[16] = "";
        int y, ip, dn, ex, nu;
        int nf = sscanf(line, "%31[^,],%15[^,],%d,%d,%d,%d,%d,%15s", id, code, &y, &ip, &dn, &ex,
                        &nu, date);
        assert_true(nf >= 7);
        int k = code_index(code);
        if (y != 2025 || k < 0 || !date[0]) continue;
        want[k][day_key(date)]++;
        dated++;
        if (strcmp(date, latest) > 0) strcpy(latest, date);
    }
    free(s);
    assert_true(dated > 1000);
    assert_true(strcmp(latest, "2025-09-30") <= 0);

    assert_int_equal(sh(ENV "%s --db sqlite:%s/db.sqlite run --quiet --input %s/in --year 2025 "
                            "--star-year 2026 --valuesets %s > %s/run.txt 2>&1",
                        BIN, g_dir, g_dir, VSDIR, g_dir),
                     0);
    snprintf(path, sizeof path, "%s/run.txt", g_dir);
    char *txt = slurp(path), expect[128];
    printf("%s", txt);
    snprintf(expect, sizeof expect, "year 2025 observed as of %s (the latest numerator_date",
             latest + 5);
    assert_non_null(strstr(txt, expect));
    free(txt);

    sqlite3 *db;
    snprintf(path, sizeof path, "%s/db.sqlite", g_dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT measure_code, numerator_date, source, numerator "
                                        "FROM measure_results WHERE measurement_year = 2025 AND "
                                        "numerator_date IS NOT NULL AND numerator_date <> ''",
                                        -1, &st, NULL),
                     SQLITE_OK);
    long rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *code = (const char *)sqlite3_column_text(st, 0);
        int k = code_index(code);
        if (k < 0) fail_msg("a 2025 date on %s, a measure the CSV gave without dates", code);
        assert_string_equal((const char *)sqlite3_column_text(st, 2), "fhir");
        assert_int_equal(sqlite3_column_int(st, 3), 1);
        got[k][day_key((const char *)sqlite3_column_text(st, 1))]++;
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    printf("2025 dated met rows: CSV %ld, database (from FHIR) %ld; latest %s\n", dated, rows,
           latest);
    for (int k = 0; k < NF; k++)
        for (int d = 0; d < 12 * 31; d++)
            if (want[k][d] != got[k][d])
                fail_msg("%s, month %d day %d: CSV %ld dated rows, database %ld", CODES[k],
                         d / 31 + 1, d % 31 + 1, want[k][d], got[k][d]);
    assert_int_equal(rows, dated);
    assert_int_equal(sh("rm -rf %s", g_dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_asof_from_fhir)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
