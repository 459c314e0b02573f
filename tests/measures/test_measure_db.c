/* test_measure_db.c: `stargap measure eval --db` writes the published eCQM test patients' results
 * to measure_results, on SQLite and on the PostgreSQL of the `pg` fixture.
 *
 * Usage: test_measure_db sqlite | test_measure_db POSTGRES_URL
 *
 * The expected rows are worked out here from the test cases themselves, independently of the
 * engine: the populations from each case's expected MeasureReport (with the two documented CMS122
 * exceptions, numerator 0 under the CQL: docs/MEASURES.md), the member ID from the Patient
 * resource (identifier typed v2-0203 MB, else Patient.id), its hash with OpenSSL's HMAC-SHA-256
 * directly, and the Star direction of GSD as the complement of CMS122's numerator among the
 * non-excluded denominator. Checked: one row per patient with those flags, code, year and source;
 * rates per measure; a second run changes nothing (idempotent) and keeps the members' contract;
 * a run without --contract is refused; no raw member ID in the database (SQLite file bytes, or a
 * pg_dump of the database). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/hash.h"
#include "db/store.h"

#define HMAC_KEY "measure-db-test-key-not-a-secret"
#define CONTRACT "H4321"
#define YEAR 2025
#define MB_ID "MBR-TEST-77Q3-0001" /* member identifier of the extra Bundle */
#define MAX_CASES 256

static const char *const dirs[5] = {
    "CMS125-BreastCancerScreeningFHIR", "CMS130-ColonCancerScreeningFHIR",
    "CMS165-ControllingHighBloodPressureFHIR",
    "CMS122-DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR", "CMS131-DiabetesEyeExamFHIR"};
static const char *const cms[5] = {"CMS125", "CMS130", "CMS165", "CMS122", "CMS131"};
static const char *const codes[5] = {"BCS", "COL", "CBP", "GSD", "EED"};
/* docs/MEASURES.md: coded value instead of a percentage; numerator 0 under the CQL */
static const char *const cms122_exceptions[2] = {"6630d394-c81d-42f5-a218-40b73a2a4949",
                                                 "8956ebb5-d3c0-4112-a34a-200961713efd"};

struct tcase {
    int m;               /* index into dirs */
    char bundle[1600];   /* patient Bundle path */
    char member_id[256]; /* raw member ID */
    char hash[SG_HEX64_LEN];
    int ip, den, excl, num; /* expected eCQM populations */
};

static struct tcase cases[MAX_CASES];
static int ncases;
static char db_url[2048], tmpdir[256], cases_dir[1024], vs_dir[1024];
static int is_pg;

static void hmac_hex(const char *id, char out[SG_HEX64_LEN])
{
    unsigned char mac[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), HMAC_KEY, (int)strlen(HMAC_KEY), (const unsigned char *)id, strlen(id), mac,
         &len);
    for (unsigned i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", mac[i]);
}

static int pop_count(json_t *group, const char *code)
{
    size_t i;
    json_t *pop;
    json_array_foreach(json_object_get(group, "population"), i, pop)
    {
        json_t *cc = json_array_get(json_object_get(json_object_get(pop, "code"), "coding"), 0);
        if (!strcmp(json_string_value(json_object_get(cc, "code")), code))
            return (int)json_integer_value(json_object_get(pop, "count"));
    }
    return 0;
}

/* Patient's member ID: identifier with type coding code MB, else id. */
static void member_id_of(json_t *bundle, char *out, size_t outlen)
{
    size_t i, k, c;
    json_t *e, *id, *coding;
    json_array_foreach(json_object_get(bundle, "entry"), i, e)
    {
        json_t *r = json_object_get(e, "resource");
        if (strcmp(json_string_value(json_object_get(r, "resourceType")), "Patient")) continue;
        json_array_foreach(json_object_get(r, "identifier"), k, id)
        {
            json_array_foreach(json_object_get(json_object_get(id, "type"), "coding"), c, coding)
            {
                if (!strcmp(json_string_value(json_object_get(coding, "code")), "MB")) {
                    snprintf(out, outlen, "%s", json_string_value(json_object_get(id, "value")));
                    return;
                }
            }
        }
        snprintf(out, outlen, "%s", json_string_value(json_object_get(r, "id")));
        return;
    }
    fail_msg("no Patient in a Bundle");
}

static void load_case(int m, const char *dir, const char *uuid)
{
    assert_true(ncases < MAX_CASES);
    struct tcase *t = &cases[ncases++];
    t->m = m;
    char path[1600];
    snprintf(t->bundle, sizeof t->bundle, "%s/%s-patient-bundle.json", dir, uuid);
    snprintf(path, sizeof path, "%s/%s-expected-MeasureReport.json", dir, uuid);
    json_error_t je;
    json_t *mr = json_load_file(path, 0, &je);
    assert_non_null(mr);
    json_t *g = json_array_get(json_object_get(mr, "group"), 0);
    t->ip = pop_count(g, "initial-population");
    t->den = pop_count(g, "denominator");
    t->excl = pop_count(g, "denominator-exclusion");
    t->num = pop_count(g, "numerator");
    json_decref(mr);
    if (m == 3)
        for (int k = 0; k < 2; k++)
            if (!strcmp(uuid, cms122_exceptions[k])) t->num = 0;
    json_t *b = json_load_file(t->bundle, 0, &je);
    assert_non_null(b);
    member_id_of(b, t->member_id, sizeof t->member_id);
    json_decref(b);
    hmac_hex(t->member_id, t->hash);
}

static void load_cases(void)
{
    for (int m = 0; m < 5; m++) {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/%s", cases_dir, dirs[m]);
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            const char *suf = strstr(de->d_name, "-patient-bundle.json");
            if (!suf || suf[strlen("-patient-bundle.json")]) continue;
            char uuid[128];
            snprintf(uuid, sizeof uuid, "%.*s", (int)(suf - de->d_name), de->d_name);
            load_case(m, dir, uuid);
        }
        closedir(d);
    }
}

/* The extra case: the first BCS case's Bundle with a member identifier (type MB) added. */
static void add_mb_case(void)
{
    int src = -1;
    for (int i = 0; i < ncases && src < 0; i++)
        if (cases[i].m == 0) src = i;
    assert_true(src >= 0);
    json_error_t je;
    json_t *b = json_load_file(cases[src].bundle, 0, &je);
    assert_non_null(b);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(b, "entry"), i, e)
    {
        json_t *r = json_object_get(e, "resource");
        if (strcmp(json_string_value(json_object_get(r, "resourceType")), "Patient")) continue;
        json_t *ids = json_object_get(r, "identifier");
        if (!ids) json_object_set_new(r, "identifier", ids = json_array());
        json_array_append_new(ids,
                              json_pack("{s:{s:[{s:s,s:s}]},s:s,s:s}", "type", "coding", "system",
                                        "http://terminology.hl7.org/CodeSystem/v2-0203", "code",
                                        "MB", "system", "urn:test:member", "value", MB_ID));
    }
    assert_true(ncases < MAX_CASES);
    struct tcase *t = &cases[ncases++];
    *t = cases[src];
    snprintf(t->bundle, sizeof t->bundle, "%s/mb-patient-bundle.json", tmpdir);
    assert_int_equal(json_dump_file(b, t->bundle, 0), 0);
    json_decref(b);
    snprintf(t->member_id, sizeof t->member_id, "%s", MB_ID);
    hmac_hex(MB_ID, t->hash);
}

static int run(const char *const *argv, int quiet)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (quiet) {
            FILE *f = freopen("/dev/null", "w", stdout);
            (void)f;
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* stargap measure eval over every case of measure m (and the MB case for m == 0). */
static int eval_measure(int m, const char *contract)
{
    const char *argv[MAX_CASES + 24];
    int n = 0;
    argv[n++] = STARGAP_BINARY;
    argv[n++] = "--db";
    argv[n++] = db_url;
    argv[n++] = "measure";
    argv[n++] = "eval";
    argv[n++] = "--measure";
    argv[n++] = cms[m];
    argv[n++] = "--period-start";
    argv[n++] = "2025-01-01";
    argv[n++] = "--period-end";
    argv[n++] = "2025-12-31";
    argv[n++] = "--valuesets";
    argv[n++] = vs_dir;
    if (contract) {
        argv[n++] = "--contract";
        argv[n++] = contract;
    }
    for (int i = 0; i < ncases; i++)
        if (cases[i].m == m) argv[n++] = cases[i].bundle;
    argv[n] = NULL;
    return run(argv, 1);
}

static void check_rows(struct store *st)
{
    char err[SG_ERRLEN];
    long long eligible[5] = {0}, numer[5] = {0}, excl[5] = {0};
    for (int i = 0; i < ncases; i++) {
        const struct tcase *t = &cases[i];
        struct store_measure_result_list l;
        int rc = store_measure_result_get_by_member(st, t->hash, YEAR, &l, err, sizeof err);
        if (rc) fprintf(stderr, "get_by_member: %s\n", err);
        assert_int_equal(rc, SG_OK);
        assert_int_equal(l.n, 1);
        const struct store_measure_result *r = &l.items[0];
        /* the Star direction: GSD = controlled = denominator, not excluded, not poor control */
        int star_num = t->m == 3 ? (t->den && !t->excl && !t->num) : t->num;
        if (r->initial_population != t->ip || r->denominator != t->den ||
            r->denominator_exclusion != t->excl || r->numerator != star_num)
            fprintf(stderr, "%s %s: got %d/%d/%d/%d want %d/%d/%d/%d\n", codes[t->m], t->bundle,
                    r->initial_population, r->denominator, r->denominator_exclusion, r->numerator,
                    t->ip, t->den, t->excl, star_num);
        assert_string_equal(r->measure_code, codes[t->m]);
        assert_int_equal(r->measurement_year, YEAR);
        assert_string_equal(r->source, "fhir");
        assert_int_equal(r->initial_population, t->ip);
        assert_int_equal(r->denominator, t->den);
        assert_int_equal(r->denominator_exclusion, t->excl);
        assert_int_equal(r->numerator, star_num);
        /* the engine's numerator date goes with a met row, within the year, and only there */
        if (star_num)
            assert_true(strlen(r->numerator_date) == 10 && !strncmp(r->numerator_date, "2025-", 5));
        else
            assert_string_equal(r->numerator_date, "");
        eligible[t->m] += t->den && !t->excl;
        numer[t->m] += star_num;
        excl[t->m] += t->excl;
        store_measure_result_list_free(&l);
        struct store_member mem;
        assert_int_equal(store_member_get(st, t->hash, &mem, err, sizeof err), SG_OK);
        assert_string_equal(mem.contract_id, CONTRACT);
    }
    /* the complement rule on the totals: GSD numerator = eligible - CMS122 numerator */
    long long cms122_num = 0;
    for (int i = 0; i < ncases; i++)
        if (cases[i].m == 3) cms122_num += cases[i].den && !cases[i].excl && cases[i].num;
    assert_int_equal(numer[3], eligible[3] - cms122_num);
    assert_true(numer[3] > 0 && cms122_num > 0); /* both sides of the rule are exercised */
    for (int m = 0; m < 5; m++) {
        struct store_measure_rate_list rl;
        assert_int_equal(
            store_measure_result_rates(st, codes[m], CONTRACT, YEAR, &rl, err, sizeof err), SG_OK);
        assert_int_equal(rl.n, 1);
        assert_int_equal(rl.items[0].eligible, eligible[m]);
        assert_int_equal(rl.items[0].numerator, numer[m]);
        assert_int_equal(rl.items[0].exclusions, excl[m]);
        store_measure_rate_list_free(&rl);
    }
}

/* Searches the whole of a file (or a dump) for every raw member ID. */
static void assert_no_raw_ids(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return; /* an absent -wal file */
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    for (int i = 0; i < ncases; i++) {
        size_t idl = strlen(cases[i].member_id);
        for (long k = 0; k + (long)idl <= n; k++)
            if (!memcmp(buf + k, cases[i].member_id, idl))
                fail_msg("raw member ID found in %s", path);
    }
    free(buf);
}

static void test_measure_db(void **state)
{
    (void)state;
    load_cases();
    add_mb_case();
    assert_int_equal(ncases, 190);
    const char *mig[] = {STARGAP_BINARY, "--db", db_url, "migrate", "up", NULL};
    assert_int_equal(run(mig, 1), 0);
    /* --db without --contract is a usage error and writes nothing */
    assert_int_equal(eval_measure(0, NULL), 2);
    for (int m = 0; m < 5; m++)
        assert_int_equal(eval_measure(m, CONTRACT), 0);

    struct store *st;
    char err[SG_ERRLEN];
    assert_int_equal(store_open(db_url, NULL, &st, err, sizeof err), SG_OK);
    check_rows(st);
    store_close(st);

    /* idempotent: the same run again (and with another contract, which existing members keep) */
    for (int m = 0; m < 5; m++)
        assert_int_equal(eval_measure(m, m % 2 ? "H9999" : CONTRACT), 0);
    assert_int_equal(store_open(db_url, NULL, &st, err, sizeof err), SG_OK);
    check_rows(st);
    struct store_measure_rate_list rl;
    assert_int_equal(store_measure_result_rates(st, NULL, "H9999", 0, &rl, err, sizeof err), SG_OK);
    assert_int_equal(rl.n, 0); /* no member moved to the other contract */
    store_measure_rate_list_free(&rl);
    store_close(st);

    char path[600];
    if (!is_pg) {
        snprintf(path, sizeof path, "%s/t.db", tmpdir);
        assert_no_raw_ids(path);
        snprintf(path, sizeof path, "%s/t.db-wal", tmpdir);
        assert_no_raw_ids(path);
    } else {
        const char *bin = getenv("SG_PG_BIN") ? getenv("SG_PG_BIN") : "/usr/lib/postgresql/15/bin";
        char dump[600];
        snprintf(dump, sizeof dump, "%s/pg_dump", bin);
        snprintf(path, sizeof path, "%s/dump.sql", tmpdir);
        const char *argv[] = {dump, "--data-only", "-f", path, "-d", db_url, NULL};
        assert_int_equal(run(argv, 0), 0);
        assert_no_raw_ids(path);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_measure_db sqlite|POSTGRES_URL\n");
        return 2;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sg-measdb-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    is_pg = strcmp(argv[1], "sqlite") != 0;
    if (is_pg)
        snprintf(db_url, sizeof db_url, "%s", argv[1]);
    else
        snprintf(db_url, sizeof db_url, "sqlite:%s/t.db", tmpdir);
    snprintf(cases_dir, sizeof cases_dir, "%s/ecqm/cases", STARGAP_TEST_DATA);
    snprintf(vs_dir, sizeof vs_dir, "%s/data/valuesets", STARGAP_SOURCE_DIR);
    setenv("STARGAP_HASH_KEY", HMAC_KEY, 1);
    setenv("STARGAP_LOG_LEVEL", "warn", 1);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_measure_db)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
