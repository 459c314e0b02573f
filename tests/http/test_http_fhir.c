/* test_http_fhir.c: black-box tests of the FHIR measure operations of the real `stargap serve`:
 * POST /api/v1/fhir/Measure/{id}/$evaluate-measure and POST /api/v1/fhir/Measure/$care-gaps.
 *
 * Usage: test_http_fhir sqlite | test_http_fhir POSTGRES_URL
 *
 * A server is started with valuesets_dir set (the shared eCQM value sets copied under
 * tests/data/ecqm) and one without (503). Every published test patient is sent to
 * $evaluate-measure of its measure and to $care-gaps; the expected populations come from the
 * case's own expected MeasureReport (with the two CMS122 cases documented in docs/MEASURES.md:
 * numerator 0 under the CQL), and the expected gap status is worked out here from them (a
 * section only for a non-excluded denominator member; closed when the numerator is met, for
 * CMS122 when it is not). Then each error path: not JSON, wrong resourceType, a bad date, a
 * reference to another patient, bad or missing period parameters, an unknown parameter, an
 * unknown measure, a bad measureId, a wrong Content-Type, no key. */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* cmocka.h needs the headers above */
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/buf.h"
#include "http_harness.h"

#define MAX_CASES 256
#define PERIOD "periodStart=2025-01-01&periodEnd=2025-12-31"
#define CANARY "PHI-CANARY-5521" /* a patient id sent in rejected Bundles: must not be kept */

static const char *const dirs[5] = {
    "CMS125-BreastCancerScreeningFHIR", "CMS130-ColonCancerScreeningFHIR",
    "CMS165-ControllingHighBloodPressureFHIR",
    "CMS122-DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR", "CMS131-DiabetesEyeExamFHIR"};
static const char *const cms[5] = {"CMS125", "CMS130", "CMS165", "CMS122", "CMS131"};
static const char *const cms122_exceptions[2] = {"6630d394-c81d-42f5-a218-40b73a2a4949",
                                                 "8956ebb5-d3c0-4112-a34a-200961713efd"};

struct tcase {
    int m;
    char uuid[64];
    char *bundle; /* file text */
    char patient_id[128];
    int ip, den, excl, num;
};

static struct tcase cases[MAX_CASES];
static int ncases;
static char db_url[2048], tmpdir[256], server_log[512], key_reader[128];
static char base_on[128], base_off[128];
static pid_t pid_on, pid_off;
static CURL *curl;
static int servers_failed; /* a server exited non-zero (cmocka ignores a failed teardown) */

/* ---------------------------------------------------------------- processes */

/* Starts `stargap serve` on a free port with base set to its URL; valuesets may be NULL (engine
 * switched off with valuesets_dir = none). */
static pid_t start_fhir_server(const char *valuesets, char *base, size_t baselen)
{
    char vs_env[1300];
    snprintf(vs_env, sizeof vs_env, "STARGAP_VALUESETS_DIR=%s", valuesets ? valuesets : "none");
    const char *env[] = {vs_env, NULL};
    int port;
    pid_t pid = start_server_opts(NULL, env, &port);
    snprintf(base, baselen, "http://127.0.0.1:%d", port);
    return pid;
}

/* ---------------------------------------------------------------- HTTP */

/* POST path with body; ctype NULL = application/fhir+json; key NULL = none. */
static void post(const char *base, const char *path, const char *body, const char *ctype,
                 const char *key, struct resp *r)
{
    memset(r, 0, sizeof *r);
    sg_buf_init(&r->body, 64u << 20);
    curl_easy_reset(curl);
    char url[2048];
    snprintf(url, sizeof url, "%s%s", base, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, resp_on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, resp_on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    struct curl_slist *h = NULL;
    char line[256];
    snprintf(line, sizeof line, "Content-Type: %s", ctype ? ctype : "application/fhir+json");
    h = curl_slist_append(h, line);
    if (key) {
        snprintf(line, sizeof line, "X-API-Key: %s", key);
        h = curl_slist_append(h, line);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(h);
    assert_int_equal(rc, CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    json_error_t je;
    r->json = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &je);
    if (!r->json) fprintf(stderr, "%s: not JSON: %s\n", path, sg_buf_str(&r->body));
    assert_non_null(r->json);
}

/* Asserts a 4xx FHIR OperationOutcome whose diagnostics contain needle and whose expression (if
 * want_expr) contains want_expr. */
static void expect_oo(struct resp *r, long status, const char *needle, const char *want_expr,
                      const char *what)
{
    if (r->status != status)
        fprintf(stderr, "%s: status %ld want %ld: %s\n", what, r->status, status,
                sg_buf_str(&r->body));
    assert_int_equal(r->status, status);
    assert_string_equal(r->ctype, "application/fhir+json");
    assert_string_equal(jstr(r->json, "resourceType"), "OperationOutcome");
    json_t *issue = json_array_get(json_object_get(r->json, "issue"), 0);
    assert_non_null(issue);
    assert_string_equal(jstr(issue, "severity"), "error");
    const char *diag = jstr(issue, "diagnostics");
    assert_non_null(diag);
    if (needle && !strstr(diag, needle))
        fprintf(stderr, "%s: '%s' lacks '%s'\n", what, diag, needle);
    if (needle) assert_non_null(strstr(diag, needle));
    if (want_expr) {
        const char *ex = json_string_value(json_array_get(json_object_get(issue, "expression"), 0));
        if (!ex || !strstr(ex, want_expr))
            fprintf(stderr, "%s: expression '%s' lacks '%s'\n", what, ex ? ex : "(none)",
                    want_expr);
        assert_non_null(ex);
        assert_non_null(strstr(ex, want_expr));
    }
}

/* Asserts the service's error shape {"error":{"code":...}}. */
static void expect_err(struct resp *r, long status, const char *code, const char *what)
{
    if (r->status != status) fprintf(stderr, "%s: status %ld want %ld\n", what, r->status, status);
    assert_int_equal(r->status, status);
    assert_string_equal(jstr(json_object_get(r->json, "error"), "code"), code);
}

/* ---------------------------------------------------------------- data */

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

static int pop_count(json_t *group, const char *code)
{
    size_t i;
    json_t *pop;
    json_array_foreach(json_object_get(group, "population"), i, pop)
    {
        json_t *cc = json_array_get(json_object_get(json_object_get(pop, "code"), "coding"), 0);
        if (!strcmp(jstr(cc, "code"), code))
            return (int)json_integer_value(json_object_get(pop, "count"));
    }
    return -1; /* absent */
}

static void load_cases(void)
{
    for (int m = 0; m < 5; m++) {
        char dir[1200];
        snprintf(dir, sizeof dir, "%s/ecqm/cases/%s", STARGAP_TEST_DATA, dirs[m]);
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d))) {
            const char *suf = strstr(de->d_name, "-patient-bundle.json");
            if (!suf || suf[strlen("-patient-bundle.json")]) continue;
            assert_true(ncases < MAX_CASES);
            struct tcase *t = &cases[ncases++];
            t->m = m;
            snprintf(t->uuid, sizeof t->uuid, "%.*s", (int)(suf - de->d_name), de->d_name);
            char path[1600];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            t->bundle = read_text(path);
            snprintf(path, sizeof path, "%s/%s-expected-MeasureReport.json", dir, t->uuid);
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
                    if (!strcmp(t->uuid, cms122_exceptions[k])) t->num = 0;
            json_t *b = json_loads(t->bundle, 0, &je);
            assert_non_null(b);
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(b, "entry"), i, e)
            {
                json_t *res = json_object_get(e, "resource");
                if (!strcmp(jstr(res, "resourceType"), "Patient"))
                    snprintf(t->patient_id, sizeof t->patient_id, "%s", jstr(res, "id"));
            }
            json_decref(b);
        }
        closedir(d);
    }
}

/* ---------------------------------------------------------------- setup */

static int group_setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    http_harness_bind(db_url, server_log, NULL, curl);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sg-http-fhir-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    if (!db_url[0]) snprintf(db_url, sizeof db_url, "sqlite:%s/test.db", tmpdir);
    snprintf(server_log, sizeof server_log, "%s/server.log", tmpdir);
    setenv("STARGAP_HASH_KEY", "http-fhir-test-key-not-a-secret", 1);
    setenv("STARGAP_RATE_LIMIT_PER_MIN", "1000000", 1);
    setenv("STARGAP_HTTP_THREADS", "2", 1);
    setenv("STARGAP_LOG_LEVEL", "warn", 1);
    char out[4096];
    const char *mig[] = {STARGAP_BINARY, "--db", db_url, "migrate", "up", NULL};
    if (run_cmd(mig, out, sizeof out) != 0) return -1;
    const char *kc[] = {STARGAP_BINARY, "--db",        db_url,   "keys",   "create",
                        "--name",       "fhir-reader", "--role", "reader", NULL};
    if (run_cmd(kc, out, sizeof out) != 0) return -1;
    out[strcspn(out, "\n")] = '\0';
    snprintf(key_reader, sizeof key_reader, "%.127s", out);
    load_cases();
    char vs[1200];
    snprintf(vs, sizeof vs, "%s/data/valuesets", STARGAP_SOURCE_DIR);
    pid_on = start_fhir_server(vs, base_on, sizeof base_on);
    pid_off = start_fhir_server(NULL, base_off, sizeof base_off);
    return 0;
}

/* 1 when CANARY (and every test patient id) occurs nowhere in the database: the SQLite file and
 * its WAL, or a pg_dump of the PostgreSQL database. The servers are stopped, so the request log
 * queue has been written. */
static int file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    struct sg_buf b;
    sg_buf_init(&b, 1u << 30);
    char chunk[65536];
    size_t n;
    int ok = 1;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (sg_buf_append(&b, chunk, n) != SG_OK) ok = 0;
    fclose(f);
    int found = 0;
    size_t nl = strlen(needle);
    for (size_t i = 0; ok && b.len >= nl && i <= b.len - nl && !found; i++)
        found = !memcmp(b.data + i, needle, nl);
    sg_buf_fini(&b);
    return found;
}

static int canary_absent(void)
{
    char files[2][2100];
    int nfiles = 0;
    if (!strncmp(db_url, "sqlite:", 7)) {
        snprintf(files[nfiles++], sizeof files[0], "%s", db_url + 7);
        snprintf(files[nfiles++], sizeof files[0], "%s-wal", db_url + 7);
    } else {
        const char *bin = getenv("SG_PG_BIN") ? getenv("SG_PG_BIN") : "/usr/lib/postgresql/15/bin";
        char dump[600], out[64];
        snprintf(dump, sizeof dump, "%s/pg_dump", bin);
        snprintf(files[nfiles++], sizeof files[0], "%s/dump.sql", tmpdir);
        const char *argv[] = {dump, "--data-only", "-f", files[0], "-d", db_url, NULL};
        if (run_cmd(argv, out, sizeof out) != 0) {
            fprintf(stderr, "pg_dump failed\n");
            return 0;
        }
    }
    for (int k = 0; k < nfiles; k++) {
        if (file_has(files[k], CANARY)) {
            fprintf(stderr, "%s found in %s\n", CANARY, files[k]);
            return 0;
        }
        for (int i = 0; i < ncases; i++)
            if (file_has(files[k], cases[i].patient_id)) {
                fprintf(stderr, "a test patient id found in %s\n", files[k]);
                return 0;
            }
    }
    return 1;
}

static int group_teardown(void **state)
{
    (void)state;
    int rc_on = stop_server(pid_on), rc_off = stop_server(pid_off);
    servers_failed = rc_on || rc_off;
    if (rc_on || rc_off) {
        fprintf(stderr, "server exit status %d / %d; log:\n", rc_on, rc_off);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "cat '%s' >&2", server_log);
        if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
    }
    if (!servers_failed && !canary_absent()) servers_failed = 1;
    for (int i = 0; i < ncases; i++)
        free(cases[i].bundle);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc_on || rc_off ? -1 : 0;
}

/* ---------------------------------------------------------------- tests */

/* Every published case through $evaluate-measure: the populations of its expected report. */
static void test_evaluate_all_cases(void **state)
{
    (void)state;
    assert_int_equal(ncases, 189);
    for (int i = 0; i < ncases; i++) {
        const struct tcase *t = &cases[i];
        char path[256];
        snprintf(path, sizeof path, "/api/v1/fhir/Measure/%s/$evaluate-measure?" PERIOD, cms[t->m]);
        struct resp r;
        post(base_on, path, t->bundle, i % 2 ? "application/json" : NULL, key_reader, &r);
        if (r.status != 200)
            fprintf(stderr, "%s %s: %ld %s\n", cms[t->m], t->uuid, r.status, sg_buf_str(&r.body));
        assert_int_equal(r.status, 200);
        assert_string_equal(r.ctype, "application/fhir+json");
        assert_string_equal(jstr(r.json, "resourceType"), "MeasureReport");
        assert_string_equal(jstr(r.json, "type"), "individual");
        assert_string_equal(jstr(r.json, "status"), "complete");
        char subj[160];
        snprintf(subj, sizeof subj, "Patient/%s", t->patient_id);
        assert_string_equal(jstr(json_object_get(r.json, "subject"), "reference"), subj);
        json_t *period = json_object_get(r.json, "period");
        assert_string_equal(jstr(period, "start"), "2025-01-01");
        assert_string_equal(jstr(period, "end"), "2025-12-31");
        json_t *g = json_array_get(json_object_get(r.json, "group"), 0);
        int got[4] = {pop_count(g, "initial-population"), pop_count(g, "denominator"),
                      pop_count(g, "denominator-exclusion"), pop_count(g, "numerator")};
        int want[4] = {t->ip, t->den, t->excl, t->num};
        for (int k = 0; k < 4; k++) {
            if (got[k] != want[k])
                fprintf(stderr, "%s %s population %d: got %d want %d\n", cms[t->m], t->uuid, k,
                        got[k], want[k]);
            assert_int_equal(got[k], want[k]);
        }
        resp_free(&r);
    }
}

/* Every case through $care-gaps for its measure: a section only for a non-excluded denominator
 * member; open or closed as the expected populations say. Also the measure by code. */
static void test_care_gaps_all_cases(void **state)
{
    (void)state;
    static const char *const codes[5] = {"BCS", "COL", "CBP", "GSD", "EED"};
    int open = 0, closed = 0;
    for (int i = 0; i < ncases; i++) {
        const struct tcase *t = &cases[i];
        char path[256];
        snprintf(path, sizeof path, "/api/v1/fhir/Measure/$care-gaps?" PERIOD "&measureId=%s",
                 i % 2 ? codes[t->m] : cms[t->m]);
        struct resp r;
        post(base_on, path, t->bundle, NULL, key_reader, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.ctype, "application/fhir+json");
        assert_string_equal(jstr(r.json, "resourceType"), "Bundle");
        assert_string_equal(jstr(r.json, "type"), "document");
        json_t *entries = json_object_get(r.json, "entry");
        json_t *comp = json_object_get(json_array_get(entries, 0), "resource");
        assert_string_equal(jstr(comp, "resourceType"), "Composition");
        int applicable = t->den == 1 && t->excl == 0;
        size_t nsec = json_array_size(json_object_get(comp, "section"));
        assert_int_equal(nsec, (size_t)applicable);
        const char *status = NULL;
        size_t k;
        json_t *e;
        json_array_foreach(entries, k, e)
        {
            json_t *res = json_object_get(e, "resource");
            if (strcmp(jstr(res, "resourceType"), "DetectedIssue")) continue;
            json_t *cc =
                json_object_get(json_array_get(json_object_get(res, "modifierExtension"), 0),
                                "valueCodeableConcept");
            status = jstr(json_array_get(json_object_get(cc, "coding"), 0), "code");
        }
        if (applicable) {
            /* CMS122's numerator is poor control: the gap is closed when it is NOT met */
            int met = t->m == 3 ? !t->num : t->num;
            assert_non_null(status);
            assert_string_equal(status, met ? "closed-gap" : "open-gap");
            met ? closed++ : open++;
        } else {
            assert_null(status);
        }
        resp_free(&r);
    }
    assert_true(open > 0 && closed > 0); /* both kinds exercised */
}

/* measureId absent = all five measures; a list of two. */
static void test_care_gaps_lists(void **state)
{
    (void)state;
    const struct tcase *t = NULL;
    for (int i = 0; i < ncases && !t; i++)
        if (cases[i].m == 0 && cases[i].den == 1 && cases[i].excl == 0) t = &cases[i];
    assert_non_null(t);
    struct resp r;
    post(base_on, "/api/v1/fhir/Measure/$care-gaps?" PERIOD "&measureId=CMS125,CMS130", t->bundle,
         NULL, key_reader, &r);
    assert_int_equal(r.status, 200);
    json_t *comp = json_object_get(json_array_get(json_object_get(r.json, "entry"), 0), "resource");
    size_t n_two = json_array_size(json_object_get(comp, "section"));
    assert_true(n_two >= 1 && n_two <= 2);
    resp_free(&r);
    post(base_on, "/api/v1/fhir/Measure/$care-gaps?" PERIOD, t->bundle, NULL, key_reader, &r);
    assert_int_equal(r.status, 200);
    comp = json_object_get(json_array_get(json_object_get(r.json, "entry"), 0), "resource");
    assert_true(json_array_size(json_object_get(comp, "section")) >= n_two);
    resp_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    const char *good = cases[0].bundle;
    const char *ev = "/api/v1/fhir/Measure/CMS125/$evaluate-measure?" PERIOD;
    const char *cg = "/api/v1/fhir/Measure/$care-gaps?" PERIOD;
    struct resp r;

    post(base_on, ev, "{\"resourceType\": \"Bundle\", ", NULL, key_reader, &r);
    expect_oo(&r, 400, "not valid JSON", NULL, "not JSON");
    resp_free(&r);
    post(base_on, cg, "not json", NULL, key_reader, &r);
    expect_oo(&r, 400, "JSON", NULL, "not JSON (care-gaps)");
    resp_free(&r);
    post(base_on, ev, "{\"resourceType\":\"Patient\",\"id\":\"p1\"}", NULL, key_reader, &r);
    expect_oo(&r, 400, "Patient", "resourceType", "wrong resourceType");
    resp_free(&r);
    post(base_on, ev, "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[]}", NULL,
         key_reader, &r);
    expect_oo(&r, 400, "Patient", NULL, "no Patient");
    resp_free(&r);

    /* a bad date and a reference to nothing, in an otherwise valid Bundle */
    const char *bad_date =
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"" CANARY "\",\"gender\":\"female\","
        "\"birthDate\":\"1960-01-01\"}},"
        "{\"resource\":{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\","
        "\"subject\":{\"reference\":\"Patient/" CANARY "\"},"
        "\"period\":{\"start\":\"2025-02-30T10:00:00Z\",\"end\":\"2025-03-01T10:00:00Z\"}}}]}";
    post(base_on, ev, bad_date, NULL, key_reader, &r);
    expect_oo(&r, 400, NULL, "Bundle.entry[1].resource.period.start", "bad date");
    resp_free(&r);
    const char *dangling =
        "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":["
        "{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"female\","
        "\"birthDate\":\"1960-01-01\"}},"
        "{\"resource\":{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\","
        "\"subject\":{\"reference\":\"Patient/" CANARY "\"},"
        "\"period\":{\"start\":\"2025-02-03T10:00:00Z\",\"end\":\"2025-02-03T11:00:00Z\"}}}]}";
    post(base_on, cg, dangling, NULL, key_reader, &r);
    expect_oo(&r, 400, CANARY, "Bundle.entry[1]", "reference to nothing"); /* told to the client */
    resp_free(&r);

    /* parameters */
    post(
        base_on,
        "/api/v1/fhir/Measure/CMS125/$evaluate-measure?periodStart=2025-01-01&periodEnd=2025-02-30",
        good, NULL, key_reader, &r);
    expect_oo(&r, 400, "periodEnd", "periodEnd", "bad periodEnd");
    resp_free(&r);
    post(
        base_on,
        "/api/v1/fhir/Measure/CMS125/$evaluate-measure?periodStart=2025-12-31&periodEnd=2025-01-01",
        good, NULL, key_reader, &r);
    expect_oo(&r, 400, "after", "periodStart", "start after end");
    resp_free(&r);
    post(base_on, "/api/v1/fhir/Measure/CMS125/$evaluate-measure?periodStart=2025-01-01", good,
         NULL, key_reader, &r);
    expect_oo(&r, 400, "periodEnd is required", "periodEnd", "missing periodEnd");
    resp_free(&r);
    post(base_on, "/api/v1/fhir/Measure/CMS125/$evaluate-measure?" PERIOD "&subject=Patient/1",
         good, NULL, key_reader, &r);
    expect_oo(&r, 400, "subject", "subject", "unknown parameter");
    resp_free(&r);
    post(base_on, "/api/v1/fhir/Measure/CMS999/$evaluate-measure?" PERIOD, good, NULL, key_reader,
         &r);
    expect_oo(&r, 404, "CMS999", "Measure", "unknown measure");
    resp_free(&r);
    post(base_on, "/api/v1/fhir/Measure/$care-gaps?" PERIOD "&measureId=CMS125,XYZ", good, NULL,
         key_reader, &r);
    expect_oo(&r, 400, "XYZ", "measureId", "bad measureId");
    resp_free(&r);
    post(base_on, "/api/v1/fhir/Measure/$care-gaps?" PERIOD "&measureId=", good, NULL, key_reader,
         &r);
    expect_oo(&r, 400, "measureId", "measureId", "empty measureId");
    resp_free(&r);

    /* the HTTP layer's errors keep the service's shape */
    post(base_on, ev, good, "text/plain", key_reader, &r);
    expect_err(&r, 415, "unsupported_media_type", "text/plain");
    resp_free(&r);
    post(base_on, ev, good, NULL, NULL, &r);
    expect_err(&r, 401, "unauthorized", "no key");
    resp_free(&r);
}

/* With valuesets_dir = none both operations answer 503 with a message saying what to configure. */
static void test_engine_not_configured(void **state)
{
    (void)state;
    const char *paths[2] = {"/api/v1/fhir/Measure/CMS125/$evaluate-measure?" PERIOD,
                            "/api/v1/fhir/Measure/$care-gaps?" PERIOD};
    for (int i = 0; i < 2; i++) {
        struct resp r;
        post(base_off, paths[i], cases[0].bundle, NULL, key_reader, &r);
        expect_err(&r, 503, "unavailable", "no engine");
        assert_non_null(strstr(jstr(json_object_get(r.json, "error"), "message"), "valuesets_dir"));
        resp_free(&r);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_http_fhir sqlite|POSTGRES_URL\n");
        return 2;
    }
    if (strcmp(argv[1], "sqlite")) snprintf(db_url, sizeof db_url, "%s", argv[1]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_all_cases),    cmocka_unit_test(test_care_gaps_all_cases),
        cmocka_unit_test(test_care_gaps_lists),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_engine_not_configured),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    return rc || servers_failed ? 1 : 0;
}
