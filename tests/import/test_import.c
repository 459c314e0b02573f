/* test_import.c: the importer on hand-written fixtures (tests/data/import) and, for --fhir, on
 * the copied eCQM test patients (tests/data/ecqm): populations against the deck, member
 * attributes and features against counts made here from the raw Bundle JSON.
 *
 * good/: every row valid -> all imported; a second import changes nothing (no row inserted or
 * updated, no audit row added). bad/: each data line is valid or has exactly one reject reason;
 * the expected (file, line, reason) list below was written from the fixture by hand. Raw member
 * IDs must appear neither in the database file nor in the rejects file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/csv.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/memberid.h"
#include "db/migrate.h"
#include "db/store.h"
#include "measures/measures.h"
#include "pipeline/pipeline.h"

static const struct store_actor ACTOR = {"import-test", ""};

/* PostgreSQL URL given on the command line (ctest import_fhir_pg), else NULL: SQLite file. */
static const char *g_pg_url;

struct fx {
    struct store *st;
    struct sg_memberid mid;
    char db[512], rejects[512];
    char err[SG_ERRLEN];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct sg_config cfg;
    assert_int_equal(sg_config_init(&cfg), SG_OK);
    assert_int_equal(
        sg_config_set(&cfg, "hash_key", "test-key-0123456789abcdef", "test", f->err, sizeof f->err),
        SG_OK);
    assert_int_equal(sg_memberid_init(&f->mid, &cfg, NULL, f->err, sizeof f->err), SG_OK);
    snprintf(f->db, sizeof f->db, "/tmp/sg_test_import_%d.db", (int)getpid());
    snprintf(f->rejects, sizeof f->rejects, "/tmp/sg_test_import_%d.rejects.csv", (int)getpid());
    char url[600];
    snprintf(url, sizeof url, "sqlite:%s", f->db);
    if (g_pg_url) snprintf(url, sizeof url, "%s", g_pg_url);
    unlink(f->db);
    assert_int_equal(store_open(url, &cfg, &f->st, f->err, sizeof f->err), SG_OK);
    assert_int_equal(migrate_up(f->st, 0, NULL, f->err, sizeof f->err), SG_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    sg_memberid_fini(&f->mid);
    char p[600];
    unlink(f->db);
    snprintf(p, sizeof p, "%s-wal", f->db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", f->db);
    unlink(p);
    unlink(f->rejects);
    free(f);
    return 0;
}

static int run_import(struct fx *f, const char *sub, struct pl_import_summary *s)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/import/%s", STARGAP_TEST_DATA, sub);
    struct pl_import_opts o = {f->rejects, 3, NULL,
                               STARGAP_SOURCE_DIR "/data"}; /* batches of 3 rows */
    int rc = pl_import(f->st, &ACTOR, &f->mid, dir, &o, s, f->err, sizeof f->err);
    if (rc) fprintf(stderr, "import: %s\n", f->err);
    return rc;
}

static char *slurp(const char *path, size_t *len)
{
    char *s = NULL, e[256];
    assert_int_equal(sg_read_file(path, (size_t)64 << 20, &s, len, e, sizeof e), SG_OK);
    return s;
}

/* True when the bytes of needle occur in the file (binary search through a database file). */
static int file_contains(const char *path, const char *needle)
{
    size_t len, n = strlen(needle);
    char *s = slurp(path, &len);
    int found = 0;
    for (size_t i = 0; i + n <= len && !found; i++)
        found = !memcmp(s + i, needle, n);
    free(s);
    return found;
}

/* The database is in WAL mode: the rows may still be in the -wal file. */
static int db_contains(struct fx *f, const char *needle)
{
    char p[600];
    snprintf(p, sizeof p, "%s-wal", f->db);
    return file_contains(f->db, needle) || (access(p, F_OK) == 0 && file_contains(p, needle));
}

static long long audits(struct fx *f)
{
    struct store_audit_list l;
    struct store_page pg = {1, 0};
    long long t = 0;
    static const char *const ent[] = {"member", "measure_result", "member_feature"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_audit_get_trail(f->st, ent[i], NULL, &pg, &l, f->err, sizeof f->err),
                         SG_OK);
        t += l.total;
        store_audit_list_free(&l);
    }
    return t;
}

static int count_member(void *ctx, const struct store_member *m)
{
    (void)m;
    (*(int *)ctx)++;
    return 0;
}

static void test_good_and_idempotent(void **state)
{
    struct fx *f = *state;
    struct pl_import_summary s;
    assert_int_equal(run_import(f, "good", &s), SG_OK);
    assert_int_equal(s.members.rows, 4);
    assert_int_equal(s.members.accepted, 4);
    assert_int_equal(s.members.merged.inserted, 4);
    assert_int_equal(s.results.accepted, 7);
    assert_int_equal(s.results.merged.inserted, 7);
    assert_int_equal(s.features.accepted, 3);
    assert_int_equal(s.features.merged.inserted, 3);
    assert_int_equal(s.n_feature_names, 2);
    assert_int_equal(s.members.rejected + s.results.rejected + s.features.rejected, 0);
    /* the stored member: hash of the raw ID, birth year, flags */
    char h[65];
    assert_int_equal(sg_memberid_hash(&f->mid, "MBIGOOD02", h, f->err, sizeof f->err), SG_OK);
    struct store_member m;
    assert_int_equal(store_member_get(f->st, h, &m, f->err, sizeof f->err), SG_OK);
    assert_int_equal(m.birth_year, 1948);
    assert_int_equal(m.sex, STORE_SEX_MALE);
    assert_int_equal(m.dual_eligible, 1);
    assert_int_equal(m.lis, 1);
    assert_int_equal(m.disabled, 0);
    assert_string_equal(m.contract_id, "H1234");
    /* MBIGOOD03's enrollment ended 2025-06-30, before today: inactive */
    assert_int_equal(sg_memberid_hash(&f->mid, "MBIGOOD03", h, f->err, sizeof f->err), SG_OK);
    assert_int_equal(store_member_get(f->st, h, &m, f->err, sizeof f->err), SG_OK);
    assert_int_equal(m.active, 0);
    /* a missing feature value is left out of the JSON */
    struct store_member_feature mf;
    assert_int_equal(store_member_feature_get(f->st, h, 2024, &mf, f->err, sizeof f->err), SG_OK);
    assert_null(strstr(mf.features, "ed_visits"));
    assert_non_null(strstr(mf.features, "risk_score"));
    store_member_feature_fini(&mf);
    long long a1 = audits(f);
    /* second import: nothing changes */
    assert_int_equal(run_import(f, "good", &s), SG_OK);
    assert_int_equal(s.members.merged.unchanged, 4);
    assert_int_equal(s.results.merged.unchanged, 7);
    assert_int_equal(s.features.merged.unchanged, 3);
    assert_int_equal(s.members.merged.inserted + s.members.merged.updated +
                         s.results.merged.inserted + s.results.merged.updated +
                         s.features.merged.inserted + s.features.merged.updated,
                     0);
    assert_int_equal(audits(f), a1);
    int n = 0;
    assert_int_equal(store_member_scan(f->st, count_member, &n, f->err, sizeof f->err), SG_OK);
    assert_int_equal(n, 4);
    /* no raw member ID anywhere in the database */
    assert_false(db_contains(f, "MBIGOOD0"));
    assert_true(db_contains(f, h)); /* the check can fail: the hashes are there */
}

struct expect {
    const char *file;
    int line;
    enum pl_reject reason;
};

static void test_bad_rows(void **state)
{
    struct fx *f = *state;
    static const struct expect want[] = {
        {"members.csv", 3, PL_REJ_COLUMNS},
        {"members.csv", 4, PL_REJ_MEMBER_ID},
        {"members.csv", 5, PL_REJ_CONTRACT},
        {"members.csv", 6, PL_REJ_DATE},
        {"members.csv", 7, PL_REJ_SEX},
        {"members.csv", 8, PL_REJ_FLAG},
        {"members.csv", 9, PL_REJ_DATE},
        {"members.csv", 10, PL_REJ_DUPLICATE},
        {"measure_results.csv", 3, PL_REJ_DUPLICATE},
        {"measure_results.csv", 4, PL_REJ_MEASURE},
        {"measure_results.csv", 5, PL_REJ_YEAR},
        {"measure_results.csv", 6, PL_REJ_FLAG},
        {"measure_results.csv", 7, PL_REJ_NUMERATOR},
        {"measure_results.csv", 8, PL_REJ_DENOMINATOR},
        {"measure_results.csv", 9, PL_REJ_UNKNOWN_MEMBER},
        {"measure_results.csv", 10, PL_REJ_COLUMNS},
        {"measure_results.csv", 12, PL_REJ_UNKNOWN_MEMBER},
        {"member_features.csv", 3, PL_REJ_DUPLICATE},
        {"member_features.csv", 4, PL_REJ_NUMBER},
        {"member_features.csv", 5, PL_REJ_YEAR},
        {"member_features.csv", 6, PL_REJ_COLUMNS},
        {"member_features.csv", 8, PL_REJ_UNKNOWN_MEMBER},
    };
    const size_t nw = sizeof want / sizeof *want;
    struct pl_import_summary s;
    assert_int_equal(run_import(f, "bad", &s), SG_OK);
    assert_int_equal(s.members.rows, 10);
    assert_int_equal(s.members.accepted, 2);
    assert_int_equal(s.members.rejected, 8);
    assert_int_equal(s.results.rows, 11);
    assert_int_equal(s.results.accepted, 2);
    assert_int_equal(s.results.rejected, 9);
    assert_int_equal(s.features.rows, 7);
    assert_int_equal(s.features.accepted, 2);
    assert_int_equal(s.features.rejected, 5);
    long long by[PL_REJ_COUNT] = {0};
    for (size_t i = 0; i < nw; i++)
        by[want[i].reason]++;
    for (int r = 0; r < PL_REJ_COUNT; r++) {
        if (s.by_reason[r] != by[r])
            fprintf(stderr, "reason %s: %lld, want %lld\n", pl_reject_name((enum pl_reject)r),
                    s.by_reason[r], by[r]);
        assert_int_equal(s.by_reason[r], by[r]);
        /* the fixture exercises every CSV reason (numerator_date: test_numerator_date) */
        if (r != PL_REJ_FHIR && r != PL_REJ_NUMDATE_YEAR && r != PL_REJ_NUMDATE_OPEN)
            assert_true(by[r] > 0);
    }
    /* the rejects file: header, then exactly the expected lines in order */
    size_t len;
    char *txt = slurp(f->rejects, &len);
    char *save = NULL, *line = strtok_r(txt, "\n", &save);
    assert_string_equal(line, "file,line,reason");
    for (size_t i = 0; i < nw; i++) {
        line = strtok_r(NULL, "\n", &save);
        assert_non_null(line);
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%s,%d,\"%s", want[i].file, want[i].line,
                 pl_reject_name(want[i].reason));
        if (strncmp(line, prefix, strlen(prefix)))
            fprintf(stderr, "line '%s', want prefix '%s'\n", line, prefix);
        assert_int_equal(strncmp(line, prefix, strlen(prefix)), 0);
    }
    assert_null(strtok_r(NULL, "\n", &save));
    free(txt);
    assert_false(file_contains(f->rejects, "MBIBAD"));
    assert_false(file_contains(f->rejects, "MBIUNKNOWN"));
    assert_false(db_contains(f, "MBIBAD"));
    /* the accepted rows are there: MBIBAD008's excluded KED result */
    char h[65];
    struct store_measure_result_list l;
    assert_int_equal(sg_memberid_hash(&f->mid, "MBIBAD008", h, f->err, sizeof f->err), SG_OK);
    assert_int_equal(store_measure_result_get_by_member(f->st, h, 2024, &l, f->err, sizeof f->err),
                     SG_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].measure_code, "KED");
    assert_int_equal(l.items[0].denominator_exclusion, 1);
    store_measure_result_list_free(&l);
}

static void test_file_errors(void **state)
{
    struct fx *f = *state;
    struct pl_import_summary s;
    char dir[] = "/tmp/sg_import_hdr_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[600];
    snprintf(p, sizeof p, "%s/members.csv", dir);
    struct pl_import_opts o = {f->rejects, 0, NULL, STARGAP_SOURCE_DIR "/data"};
    /* no members.csv */
    assert_int_equal(pl_import(f->st, &ACTOR, &f->mid, dir, &o, &s, f->err, sizeof f->err), SG_EIO);
    assert_non_null(strstr(f->err, "members.csv"));
    /* a wrong header names file, line and column */
    FILE *fp = fopen(p, "w");
    fputs("member_id,contract,birth_date,sex,dual,lis,disability,enrollment_start,enrollment_end\n",
          fp);
    fclose(fp);
    assert_int_equal(pl_import(f->st, &ACTOR, &f->mid, dir, &o, &s, f->err, sizeof f->err),
                     SG_EPARSE);
    assert_non_null(strstr(f->err, "members.csv:1: header column 2"));
    /* a feature column may not take a built-in feature's name */
    fp = fopen(p, "w");
    fputs("member_id,contract_id,birth_date,sex,dual,lis,disability,enrollment_start,enrollment_"
          "end\n",
          fp);
    fclose(fp);
    char p2[600], p3[600];
    snprintf(p2, sizeof p2, "%s/measure_results.csv", dir);
    fp = fopen(p2, "w");
    fputs("member_id,measure,year,initial_population,denominator,denominator_exclusion,numerator\n",
          fp);
    fclose(fp);
    snprintf(p3, sizeof p3, "%s/member_features.csv", dir);
    fp = fopen(p3, "w");
    fputs("member_id,year,risk,age\n", fp);
    fclose(fp);
    assert_int_equal(pl_import(f->st, &ACTOR, &f->mid, dir, &o, &s, f->err, sizeof f->err),
                     SG_EPARSE);
    assert_non_null(strstr(f->err, "member_features.csv:1: column 4: feature name 'age'"));
    /* the command refuses a DIR that is missing or not a directory, naming it */
    char cmd[1600], out[700];
    snprintf(out, sizeof out, "%s/cli.err", dir);
    const char *bad[2] = {"missing", "members.csv"};
    const char *why[2] = {"No such file or directory", "not a directory"};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 "STARGAP_HASH_KEY=import-test-key-0123456789 %s --db sqlite::memory: "
                 "--log-level warn import %s/%s >/dev/null 2>%s",
                 STARGAP_BINARY, dir, bad[i], out);
        int rc = system(cmd);
        assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
        char *msg = NULL, e[200];
        size_t len;
        assert_int_equal(sg_read_file(out, 4096, &msg, &len, e, sizeof e), SG_OK);
        assert_non_null(strstr(msg, bad[i]));
        assert_non_null(strstr(msg, why[i]));
        free(msg);
    }
    unlink(out);
    unlink(p2);
    unlink(p3);
    unlink(p);
    rmdir(dir);
}

/* FHIR input through the measure engine: the CMS122 eCQM test patients (tests/data/ecqm). The
 * stored GSD row must carry the deck's expected populations, with the numerator turned into
 * "controlled" (in the denominator, not excluded, not in CMS122's poor-control numerator). The
 * two documented CMS122 exceptions (docs/MEASURES.md) expect numerator 1 where the CQL gives 0;
 * the engine's value (0) is used for them. Controlled rows carry the numerator date (the most
 * recent assessment day). A file that is not a patient Bundle is a reject. */
static void test_fhir(void **state)
{
    struct fx *f = *state;
    static const char *const exceptions[] = {"6630d394-c81d-42f5-a218-40b73a2a4949",
                                             "8956ebb5-d3c0-4112-a34a-200961713efd"};
    char dir[] = "/tmp/sg_import_fhir_XXXXXX", cmd[1400], path[1200];
    const char *cases = STARGAP_TEST_DATA
        "/ecqm/cases/CMS122-DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR";
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cp '%s'/*-patient-bundle.json '%s'/", cases, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/zz-not-a-bundle.json", dir);
    FILE *fp = fopen(path, "w");
    fputs("{\"resourceType\":\"Patient\",\"id\":\"x\"}\n", fp);
    fclose(fp);
    struct pl_import_opts o = {f->rejects, 0, NULL, STARGAP_SOURCE_DIR "/data"};
    struct pl_import_summary s;
    const char *vs = STARGAP_SOURCE_DIR "/data/valuesets";
    /* without a contract, unknown members are rejected and nothing is written */
    assert_int_equal(
        pl_import_fhir(f->st, &ACTOR, &f->mid, dir, vs, 2025, NULL, &o, &s, f->err, sizeof f->err),
        SG_OK);
    assert_int_equal(s.results.rows, 34);
    assert_int_equal(s.results.rejected, 34);
    assert_int_equal(s.by_reason[PL_REJ_UNKNOWN_MEMBER], 33);
    assert_int_equal(s.by_reason[PL_REJ_FHIR], 1);
    assert_int_equal(s.results.merged.inserted, 0);
    assert_int_equal(pl_import_fhir(f->st, &ACTOR, &f->mid, dir, vs, 2025, "H0001", &o, &s, f->err,
                                    sizeof f->err),
                     SG_OK);
    assert_int_equal(s.results.rows, 34);
    assert_int_equal(s.results.accepted, 33);
    assert_int_equal(s.results.rejected, 1);
    assert_int_equal(s.members.merged.inserted, 33);
    long long inserted = s.results.merged.inserted;
    assert_true(inserted >= 30);
    size_t len;
    char *rj = slurp(f->rejects, &len);
    assert_non_null(strstr(rj, "zz-not-a-bundle.json,"));
    free(rj);

    struct meas_engine *eng;
    assert_int_equal(meas_engine_new(vs, &eng, f->err, sizeof f->err), SG_OK);
    struct meas_patient *p = meas_patient_new();
    snprintf(path, sizeof path, "%s/../expected_results.csv", cases);
    fp = fopen(path, "rb");
    assert_non_null(fp);
    struct sg_csv *c;
    assert_int_equal(sg_csv_open(&c, fp, "expected_results.csv", NULL, f->err, sizeof f->err),
                     SG_OK);
    assert_int_equal(sg_csv_next(c, f->err, sizeof f->err), 1); /* header */
    int checked = 0, dated = 0;
    while (sg_csv_next(c, f->err, sizeof f->err) == 1) {
        if (strcmp(sg_csv_field(c, 0), "CMS122")) continue;
        const char *uuid = sg_csv_field(c, 2);
        int ip = atoi(sg_csv_field(c, 9)), den = atoi(sg_csv_field(c, 10)),
            ex = atoi(sg_csv_field(c, 11)), num = atoi(sg_csv_field(c, 13));
        for (int k = 0; k < 2; k++)
            if (!strcmp(uuid, exceptions[k])) num = 0;
        char bpath[1200], *text;
        size_t blen;
        snprintf(bpath, sizeof bpath, "%s/%s-patient-bundle.json", cases, uuid);
        text = slurp(bpath, &blen);
        struct meas_error me;
        assert_int_equal(meas_patient_from_text(eng, text, blen, p, &me), SG_OK);
        free(text);
        char h[65];
        assert_int_equal(
            sg_memberid_hash(&f->mid, meas_patient_member_id(p), h, f->err, sizeof f->err), SG_OK);
        struct store_measure_result_list l;
        assert_int_equal(
            store_measure_result_get_by_member(f->st, h, 2025, &l, f->err, sizeof f->err), SG_OK);
        const struct store_measure_result *g = NULL;
        for (size_t i = 0; i < l.n; i++)
            if (!strcmp(l.items[i].measure_code, "GSD")) g = &l.items[i];
        if (!ip) {
            assert_null(g);
        } else {
            assert_non_null(g);
            assert_int_equal(g->initial_population, ip);
            assert_int_equal(g->denominator, den);
            assert_int_equal(g->denominator_exclusion, ex);
            assert_int_equal(g->numerator, den && !ex && !num);
            assert_string_equal(g->source, "ecqm");
            /* the numerator date: on controlled rows only, in 2025; HbA1c 8.9 % of
             * effectivePeriod 2024-12-31..2025-01-01T00:00Z (latest: January 1) and the GMI
             * of 2025-01-02..2025-01-03T00:00Z (January 3), read from the two bundles */
            if (g->numerator)
                assert_true(!strncmp(g->numerator_date, "2025-", 5));
            else
                assert_string_equal(g->numerator_date, "");
            if (!strncmp(uuid, "5ed37c9e", 8)) assert_string_equal(g->numerator_date, "2025-01-01");
            if (!strncmp(uuid, "6630d394", 8)) assert_string_equal(g->numerator_date, "2025-01-03");
            dated += g->numerator_date[0] != 0;
        }
        store_measure_result_list_free(&l);
        checked++;
    }
    assert_int_equal(checked, 33);
    assert_true(dated >= 2);
    sg_csv_free(c);
    fclose(fp);
    meas_patient_free(p);
    meas_engine_free(eng);
    /* again: nothing changes */
    assert_int_equal(pl_import_fhir(f->st, &ACTOR, &f->mid, dir, vs, 2025, "H0001", &o, &s, f->err,
                                    sizeof f->err),
                     SG_OK);
    assert_int_equal(s.results.merged.unchanged, inserted);
    assert_int_equal(s.results.merged.inserted + s.results.merged.updated, 0);
    assert_int_equal(s.members.merged.inserted, 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- FHIR features: independent counts from the raw Bundle JSON ---- */

/* Date part of a FHIR dateTime (all the copied test data is in UTC, "Z"): 1 when it has at least
 * day precision and falls in calendar year `year`. */
static int in_year(const char *dt, int year)
{
    char y[8];
    snprintf(y, sizeof y, "%04d-", year);
    return dt && strlen(dt) >= 10 && !strncmp(dt, y, 5);
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Start of a timing choice element prefix[x] (DateTime, Instant or Period.start). */
static const char *timing_start(json_t *r, const char *prefix)
{
    char k[64];
    snprintf(k, sizeof k, "%sDateTime", prefix);
    if (jstr(r, k)) return jstr(r, k);
    snprintf(k, sizeof k, "%sInstant", prefix);
    if (jstr(r, k)) return jstr(r, k);
    snprintf(k, sizeof k, "%sPeriod", prefix);
    return jstr(json_object_get(r, k), "start");
}

static int str_one_of(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (!strcmp(s, *list)) return 1;
    return 0;
}

struct indep {
    char member_id[256];
    int birth_year, age; /* age -1 = missing */
    int female;          /* -1 missing */
    int enc, obs, proc;
};

/* Counts the way docs/MODELS.md defines the features, straight from the JSON. */
static void count_bundle(json_t *b, int year, struct indep *o)
{
    static const char *const enc_ok[] = {"finished", "arrived", "triaged", "in-progress",
                                         "onleave", NULL};
    static const char *const obs_ok[] = {"final", "amended", "corrected", "preliminary", NULL};
    memset(o, 0, sizeof *o);
    o->age = o->female = -1;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(b, "entry"), i, e)
    {
        json_t *r = json_object_get(e, "resource");
        const char *rt = jstr(r, "resourceType");
        if (!rt) continue;
        if (!strcmp(rt, "Patient")) {
            snprintf(o->member_id, sizeof o->member_id, "%s", jstr(r, "id"));
            size_t k;
            json_t *id;
            json_array_foreach(json_object_get(r, "identifier"), k, id)
            {
                size_t c;
                json_t *cd;
                int mb = 0;
                json_array_foreach(json_object_get(json_object_get(id, "type"), "coding"), c, cd)
                    mb |= jstr(cd, "code") && !strcmp(jstr(cd, "code"), "MB");
                if (mb && jstr(id, "value")) {
                    snprintf(o->member_id, sizeof o->member_id, "%s", jstr(id, "value"));
                    break;
                }
            }
            const char *bd = jstr(r, "birthDate"), *g = jstr(r, "gender");
            if (bd) o->birth_year = atoi(bd);
            /* full birth date: on Dec 31 of `year` the birthday has passed */
            if (bd && strlen(bd) == 10) o->age = year - o->birth_year;
            if (g && !strcmp(g, "female")) o->female = 1;
            if (g && !strcmp(g, "male")) o->female = 0;
        } else if (!strcmp(rt, "Encounter")) {
            o->enc += str_one_of(jstr(r, "status"), enc_ok) &&
                      in_year(jstr(json_object_get(r, "period"), "start"), year);
        } else if (!strcmp(rt, "Observation")) {
            o->obs +=
                str_one_of(jstr(r, "status"), obs_ok) && in_year(timing_start(r, "effective"), year);
        } else if (!strcmp(rt, "Procedure")) {
            const char *st = jstr(r, "status");
            o->proc += st && !strcmp(st, "completed") && in_year(timing_start(r, "performed"), year);
        }
    }
}

static void test_fhir_features(void **state)
{
    struct fx *f = *state;
    char dir[] = "/tmp/sg_import_fhirf_XXXXXX", cmd[1400];
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd, "cp '%s'/ecqm/cases/*/*-patient-bundle.json '%s'/",
             STARGAP_TEST_DATA, dir);
    assert_int_equal(system(cmd), 0);
    /* batches of 7 patients: many transactions */
    struct pl_import_opts o = {f->rejects, 7, NULL, STARGAP_SOURCE_DIR "/data"};
    struct pl_import_summary s;
    const char *vs = STARGAP_SOURCE_DIR "/data/valuesets";
    assert_int_equal(pl_import_fhir(f->st, &ACTOR, &f->mid, dir, vs, 2025, "H0001", &o, &s, f->err,
                                    sizeof f->err),
                     SG_OK);
    long long accepted = s.results.accepted;
    assert_true(accepted > 150);
    assert_int_equal(s.features.merged.inserted, accepted);
    assert_int_equal(s.members.merged.inserted, accepted);
    long long audit0 = audits(f);

    snprintf(cmd, sizeof cmd, "ls '%s'", dir);
    FILE *ls = popen(cmd, "r");
    assert_non_null(ls);
    char name[512];
    long long checked = 0, enc_total = 0, obs_total = 0, proc_total = 0;
    while (fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = '\0';
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        json_error_t je;
        json_t *b = json_load_file(path, 0, &je);
        assert_non_null(b);
        struct indep want;
        count_bundle(b, 2025, &want);
        json_decref(b);
        char h[65];
        assert_int_equal(sg_memberid_hash(&f->mid, want.member_id, h, f->err, sizeof f->err),
                         SG_OK);
        struct store_member m;
        assert_int_equal(store_member_get(f->st, h, &m, f->err, sizeof f->err), SG_OK);
        assert_int_equal(m.birth_year, want.birth_year);
        assert_int_equal(m.sex, want.female == 1   ? STORE_SEX_FEMALE
                                : want.female == 0 ? STORE_SEX_MALE
                                                   : STORE_SEX_UNKNOWN);
        assert_string_equal(m.contract_id, "H0001");
        struct store_member_feature mf;
        assert_int_equal(store_member_feature_get(f->st, h, 2025, &mf, f->err, sizeof f->err),
                         SG_OK);
        assert_string_equal(mf.source, "fhir");
        json_t *fj = json_loads(mf.features, 0, &je);
        assert_non_null(fj);
        for (int k = 2; k < MEAS_FEATURES_N; k++) /* counts and flags are never missing */
            assert_true(json_is_number(json_object_get(fj, meas_feature_names[k])));
        if (want.age >= 0)
            assert_true(json_number_value(json_object_get(fj, "fhir_age")) == want.age);
        else
            assert_null(json_object_get(fj, "fhir_age"));
        if (want.female >= 0)
            assert_true(json_number_value(json_object_get(fj, "fhir_female")) == want.female);
        else
            assert_null(json_object_get(fj, "fhir_female"));
        assert_true(json_number_value(json_object_get(fj, "fhir_encounters")) == want.enc);
        assert_true(json_number_value(json_object_get(fj, "fhir_observations")) == want.obs);
        assert_true(json_number_value(json_object_get(fj, "fhir_procedures")) == want.proc);
        enc_total += want.enc;
        obs_total += want.obs;
        proc_total += want.proc;
        json_decref(fj);
        store_member_feature_fini(&mf);
        checked++;
    }
    pclose(ls);
    assert_int_equal(checked, accepted);
    /* the data has something to count in each kind, so the comparison is not 0 == 0 */
    assert_true(enc_total > 0 && obs_total > 0 && proc_total > 0);

    /* again: nothing changes, nothing audited */
    assert_int_equal(pl_import_fhir(f->st, &ACTOR, &f->mid, dir, vs, 2025, "H0001", &o, &s, f->err,
                                    sizeof f->err),
                     SG_OK);
    assert_int_equal(s.features.merged.unchanged, accepted);
    assert_int_equal(s.features.merged.inserted + s.features.merged.updated, 0);
    assert_int_equal(s.members.merged.unchanged, accepted);
    assert_int_equal(s.members.merged.inserted + s.members.merged.updated, 0);
    assert_int_equal(s.results.merged.inserted + s.results.merged.updated, 0);
    assert_int_equal(audits(f), audit0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* numdate/: the optional eighth column numerator_date. Expected outcome per data line, worked
 * out from the fixture by hand: 2 (BCS 2024-09-30) ok; 3 (COL met, empty date) ok, date NULL;
 * 4 (CBP open, empty) ok; 5 (COL 2024-12-31) ok; 6 (2024-02-30) bad date; 7 (2023-12-31 on a 2024
 * row) outside the measurement year; 8 (date on numerator 0) date without numerator; 9 (seven
 * fields in an eight-column file) wrong column count; 10 (24-05-01) bad date; 11 (COL 2023,
 * 2023-01-01) ok. */
static void test_numerator_date(void **state)
{
    struct fx *f = *state;
    struct pl_import_summary s;
    assert_int_equal(run_import(f, "numdate", &s), SG_OK);
    assert_int_equal(s.results.rows, 10);
    assert_int_equal(s.results.accepted, 5);
    assert_int_equal(s.results.rejected, 5);
    assert_int_equal(s.by_reason[PL_REJ_DATE], 2);
    assert_int_equal(s.by_reason[PL_REJ_NUMDATE_YEAR], 1);
    assert_int_equal(s.by_reason[PL_REJ_NUMDATE_OPEN], 1);
    assert_int_equal(s.by_reason[PL_REJ_COLUMNS], 1);
    size_t len;
    char *txt = slurp(f->rejects, &len);
    assert_non_null(strstr(txt, "measure_results.csv,6,\"bad date"));
    assert_non_null(
        strstr(txt, "measure_results.csv,7,\"numerator_date outside the measurement year"));
    assert_non_null(strstr(txt, "measure_results.csv,8,\"numerator_date without numerator"));
    assert_non_null(strstr(txt, "measure_results.csv,9,\"wrong column count"));
    assert_non_null(strstr(txt, "measure_results.csv,10,\"bad date"));
    free(txt);
    /* stored dates: a date where given, NULL ("") where empty */
    char h[65];
    struct store_measure_result_list l;
    assert_int_equal(sg_memberid_hash(&f->mid, "MBIDATE01", h, f->err, sizeof f->err), SG_OK);
    assert_int_equal(store_measure_result_get_by_member(f->st, h, 2024, &l, f->err, sizeof f->err),
                     SG_OK);
    assert_int_equal(l.n, 3);
    for (size_t i = 0; i < l.n; i++) {
        const struct store_measure_result *r = &l.items[i];
        if (!strcmp(r->measure_code, "BCS"))
            assert_string_equal(r->numerator_date, "2024-09-30");
        else
            assert_string_equal(r->numerator_date, "");
    }
    store_measure_result_list_free(&l);
    assert_int_equal(sg_memberid_hash(&f->mid, "MBIDATE02", h, f->err, sizeof f->err), SG_OK);
    assert_int_equal(store_measure_result_get_by_member(f->st, h, 0, &l, f->err, sizeof f->err),
                     SG_OK);
    assert_int_equal(l.n, 2);
    for (size_t i = 0; i < l.n; i++)
        assert_string_equal(l.items[i].numerator_date,
                            l.items[i].measurement_year == 2024 ? "2024-12-31" : "2023-01-01");
    store_measure_result_list_free(&l);
    /* the as-of day of the data: the latest numerator_date of the year */
    int as_of = -1;
    long long dated = 0, met = 0;
    assert_int_equal(pl_data_as_of(f->st, 2024, &as_of, &dated, &met, f->err, sizeof f->err),
                     SG_OK);
    assert_int_equal(as_of, 1231);
    assert_int_equal(dated, 2);
    if (!g_pg_url) assert_int_equal(met, 3); /* PostgreSQL: the database the FHIR test filled */
    /* importing again changes nothing, a changed date is an update */
    assert_int_equal(run_import(f, "numdate", &s), SG_OK);
    assert_int_equal(s.results.merged.inserted + s.results.merged.updated, 0);
    assert_int_equal(s.results.merged.unchanged, 5);
    /* the store refuses a date on an open row and a date outside the year */
    struct store_measure_result r;
    memset(&r, 0, sizeof r);
    memcpy(r.member_hash, h, 65);
    snprintf(r.measure_code, sizeof r.measure_code, "COL");
    r.measurement_year = 2024;
    r.initial_population = r.denominator = 1;
    snprintf(r.source, sizeof r.source, "csv");
    snprintf(r.numerator_date, sizeof r.numerator_date, "2024-03-01");
    assert_int_equal(
        store_measure_result_merge_batch(f->st, &ACTOR, &r, 1, NULL, f->err, sizeof f->err),
        SG_EINVAL);
    assert_non_null(strstr(f->err, "numerator_date"));
    r.numerator = 1;
    snprintf(r.numerator_date, sizeof r.numerator_date, "2025-03-01");
    assert_int_equal(
        store_measure_result_merge_batch(f->st, &ACTOR, &r, 1, NULL, f->err, sizeof f->err),
        SG_EINVAL);
    snprintf(r.numerator_date, sizeof r.numerator_date, "2024-03-01");
    struct store_merge_counts k;
    assert_int_equal(
        store_measure_result_merge_batch(f->st, &ACTOR, &r, 1, &k, f->err, sizeof f->err), SG_OK);
    assert_int_equal(k.updated, 1);
    assert_int_equal(store_measure_result_get_by_member(f->st, h, 2024, &l, f->err, sizeof f->err),
                     SG_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.items[0].numerator_date, "2024-03-01");
    store_measure_result_list_free(&l);
}

/* ---- batches merged at once, committed in order ---- */

#define ORD_MEMBERS 40
#define ORD_BATCH 7 /* 120 result rows: 18 batches, the last one short */

/* Writes DIR/members.csv and DIR/measure_results.csv: ORD_MEMBERS members MBIORD001.. with BCS,
 * CBP and COL results of 2019 (a year no other test uses). */
static void write_ordered_input(const char *dir)
{
    char p[600];
    snprintf(p, sizeof p, "%s/members.csv", dir);
    FILE *m = fopen(p, "w");
    snprintf(p, sizeof p, "%s/measure_results.csv", dir);
    FILE *r = fopen(p, "w");
    assert_non_null(m);
    assert_non_null(r);
    fprintf(m, "member_id,contract_id,birth_date,sex,dual,lis,disability,enrollment_start,"
               "enrollment_end\n");
    fprintf(r, "member_id,measure,year,initial_population,denominator,denominator_exclusion,"
               "numerator\n");
    for (int i = 1; i <= ORD_MEMBERS; i++) {
        fprintf(m, "MBIORD%03d,H4321,1950-01-01,F,0,0,0,2015-01-01,\n", i);
        fprintf(r, "MBIORD%03d,BCS,2019,1,1,0,%d\n", i, i % 2);
        fprintf(r, "MBIORD%03d,COL,2019,1,1,0,%d\n", i, i % 3 == 0);
        fprintf(r, "MBIORD%03d,CBP,2019,1,1,0,1\n", i);
    }
    fclose(m);
    fclose(r);
    snprintf(p, sizeof p, "%s/member_features.csv", dir);
    FILE *fe = fopen(p, "w");
    assert_non_null(fe);
    fprintf(fe, "member_id,year,ord_score\n");
    for (int i = 1; i <= ORD_MEMBERS; i++) fprintf(fe, "MBIORD%03d,2019,%d.5\n", i, i);
    fclose(fe);
}

static int count_feature(void *ctx, const char *member_hash, int year, const char *features)
{
    (void)member_hash;
    (void)year;
    (void)features;
    (*(long long *)ctx)++;
    return 0;
}

static int count_result(void *ctx, const struct store_measure_result *r)
{
    (void)r;
    (*(long long *)ctx)++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The import cuts the sorted results into batches and, on PostgreSQL, merges two at once on two
 * connections, each committing only after the one before it. All 120 rows arrive, one audited
 * merge per batch, and the chain verifies. When a batch fails (a trigger refuses one member's
 * rows: only the database knows), exactly the batches before it stay: the stored rows are the
 * first (failing batch x 7) rows in key order, one merge audited per stored batch, and the
 * rows of the batches after it (some already written while the failing one ran) are gone. */
static void test_ordered_batches(void **state)
{
    struct fx *f = *state;
    char dir[] = "/tmp/sg_test_import_ordXXXXXX";
    assert_non_null(mkdtemp(dir));
    write_ordered_input(dir);
    struct pl_import_opts o = {f->rejects, ORD_BATCH, NULL, STARGAP_SOURCE_DIR "/data"};
    struct pl_import_summary s;
    struct store_audit_list l;
    struct store_page pg = {1, 0};
    /* two writers on PostgreSQL (its default pool), one on SQLite; one on a pool of 2 */
    assert_int_equal(store_batch_writers(f->st), g_pg_url ? 2 : 1);
    if (g_pg_url) {
        struct sg_config cfg;
        struct store *small;
        assert_int_equal(sg_config_init(&cfg), SG_OK);
        assert_int_equal(sg_config_set(&cfg, "pool_max", "2", "test", f->err, sizeof f->err), SG_OK);
        assert_int_equal(sg_config_set(&cfg, "pool_min", "1", "test", f->err, sizeof f->err), SG_OK);
        assert_int_equal(store_open(g_pg_url, &cfg, &small, f->err, sizeof f->err), SG_OK);
        assert_int_equal(store_batch_writers(small), 1);
        store_close(small);
    }
    assert_int_equal(store_audit_get_trail(f->st, "measure_result", NULL, &pg, &l, f->err,
                                           sizeof f->err), SG_OK);
    long long merges0 = l.total;
    store_audit_list_free(&l);
    /* the failing member: the 23rd in hash order, whose three rows are rows 66-68 (0-based) of
     * the sorted file, so batch 9 (rows 63-69) fails */
    char hashes[ORD_MEMBERS][65];
    for (int i = 0; i < ORD_MEMBERS; i++) {
        char id[16];
        snprintf(id, sizeof id, "MBIORD%03d", i + 1);
        assert_int_equal(sg_memberid_hash(&f->mid, id, hashes[i], f->err, sizeof f->err), SG_OK);
    }
    qsort(hashes, ORD_MEMBERS, sizeof hashes[0], cmp_str);
    const char *bad = hashes[22];
    char sql[512];
    if (g_pg_url)
        snprintf(sql, sizeof sql,
                 "CREATE FUNCTION sg_test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
                 " $$BEGIN RAISE EXCEPTION 'refused by the test'; END$$;"
                 " CREATE TRIGGER sg_test_refuse BEFORE INSERT ON measure_results FOR EACH ROW"
                 " WHEN (NEW.member_hash = '%s') EXECUTE FUNCTION sg_test_refuse()", bad);
    else
        snprintf(sql, sizeof sql,
                 "CREATE TRIGGER sg_test_refuse BEFORE INSERT ON measure_results"
                 " WHEN NEW.member_hash = '%s' BEGIN SELECT RAISE(ABORT, 'refused by the test');"
                 " END", bad);
    assert_int_equal(f->st->ops->raw_exec(f->st, sql, f->err, sizeof f->err), SG_OK);
    int rc = pl_import(f->st, &ACTOR, &f->mid, dir, &o, &s, f->err, sizeof f->err);
    assert_int_not_equal(rc, SG_OK);
    long long stored = 0;
    assert_int_equal(store_measure_result_scan(f->st, 2019, count_result, &stored, f->err,
                                               sizeof f->err), SG_OK);
    assert_int_equal(stored, 9 * ORD_BATCH);
    assert_int_equal(s.results.merged.inserted, 9 * ORD_BATCH);
    assert_int_equal(store_audit_get_trail(f->st, "measure_result", NULL, &pg, &l, f->err,
                                           sizeof f->err), SG_OK);
    assert_int_equal(l.total - merges0, 9);
    store_audit_list_free(&l);
    long long feats = 0; /* the results failed: no feature batch was merged after them */
    assert_int_equal(store_member_feature_scan(f->st, 2019, count_feature, &feats, f->err,
                                               sizeof f->err), SG_OK);
    assert_int_equal(feats, 0);
    assert_int_equal(store_audit_get_trail(f->st, "member_feature", NULL, &pg, &l, f->err,
                                           sizeof f->err), SG_OK);
    long long fmerges0 = l.total;
    store_audit_list_free(&l);
    /* without the trigger the same import completes: the other 57 rows go in */
    assert_int_equal(f->st->ops->raw_exec(f->st,
                                          g_pg_url ? "DROP TRIGGER sg_test_refuse ON measure_results;"
                                                     " DROP FUNCTION sg_test_refuse()"
                                                   : "DROP TRIGGER sg_test_refuse",
                                          f->err, sizeof f->err), SG_OK);
    assert_int_equal(pl_import(f->st, &ACTOR, &f->mid, dir, &o, &s, f->err, sizeof f->err), SG_OK);
    assert_int_equal(s.results.merged.inserted, 3 * ORD_MEMBERS - 9 * ORD_BATCH);
    assert_int_equal(s.results.merged.unchanged, 9 * ORD_BATCH);
    stored = 0;
    assert_int_equal(store_measure_result_scan(f->st, 2019, count_result, &stored, f->err,
                                               sizeof f->err), SG_OK);
    assert_int_equal(stored, 3 * ORD_MEMBERS);
    /* the 40 feature rows: 6 batches of 7, merged like the results */
    assert_int_equal(s.features.merged.inserted, ORD_MEMBERS);
    assert_int_equal(store_member_feature_scan(f->st, 2019, count_feature, &feats, f->err,
                                               sizeof f->err), SG_OK);
    assert_int_equal(feats, ORD_MEMBERS);
    assert_int_equal(store_audit_get_trail(f->st, "member_feature", NULL, &pg, &l, f->err,
                                           sizeof f->err), SG_OK);
    assert_int_equal(l.total - fmerges0, 6); /* one audited merge per batch */
    store_audit_list_free(&l);
    struct store_audit_verify v;
    assert_int_equal(store_audit_verify(f->st, &v, f->err, sizeof f->err), SG_OK);
    assert_true(v.ok);
    char p[600];
    snprintf(p, sizeof p, "%s/members.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/measure_results.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/member_features.csv", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/rejects.csv", dir);
    unlink(p);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    sg_log_set_level(SG_LOG_WARN);
    if (argc > 1) { /* a fresh PostgreSQL database: the FHIR feature import on that backend */
        g_pg_url = argv[1];
        const struct CMUnitTest pg[] = {
            cmocka_unit_test_setup_teardown(test_fhir_features, setup, teardown),
            cmocka_unit_test_setup_teardown(test_numerator_date, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ordered_batches, setup, teardown),
        };
        return cmocka_run_group_tests(pg, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_good_and_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fhir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fhir_features, setup, teardown),
        cmocka_unit_test_setup_teardown(test_numerator_date, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordered_batches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
