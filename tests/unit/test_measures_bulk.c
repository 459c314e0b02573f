/* test_measures_bulk.c: the Bulk FHIR export reader (input.c) with a partition budget so small
 * that the export is spread over many temporary partitions. The export is generated here: 80
 * patients whose resources are shuffled across the resource files and interleaved between
 * patients, Patients split over two files in shuffled order, blank lines, resources of patients
 * absent from the export, one without any patient reference, and one line that is not JSON.
 * The reference result is computed independently of the Bulk reader: each patient's Patient and
 * resources are put in one collection Bundle, read by meas_patient_from_text and evaluated.
 * Checked: the same patients with the same populations for all five measures under a tiny and
 * the default budget, the rejects at the file and line where the test wrote them, the order of
 * patients with one partition (Patient file order), and that the temporary files exist only
 * while the input is open and live under TMPDIR. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "measures/input_bulk.h"
#include "measures/measures.h"

#define VSDIR STARGAP_SOURCE_DIR "/data/valuesets"
#define NPAT 80
#define MAXLINES 1024

static struct meas_engine *eng;
static struct meas_period mp;

static int setup(void **state)
{
    (void)state;
    char err[SG_ERRLEN];
    if (meas_engine_new(VSDIR, &eng, err, sizeof err) != SG_OK) return -1;
    return meas_period_parse("2025-01-01", "2025-12-31", &mp, err, sizeof err) == SG_OK ? 0 : -1;
}

/* the test's directories, removed here also when an assertion failed half-way */
static char exp_dir[] = "/tmp/sg_bulkp_XXXXXX", tmp_dir[] = "/tmp/sg_bulkt_XXXXXX";
static int made_dirs; /* both were created */

static int teardown(void **state)
{
    (void)state;
    meas_engine_free(eng);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", exp_dir, tmp_dir);
    return !made_dirs || system(cmd) == 0 ? 0 : -1;
}

/* One generated line: the file it goes to, its text, its patient (-1: none), and where it
 * landed (line number, set when the files are written). */
struct gline {
    int file;
    char text[1200];
    int pat;
    long lineno;
};

static const char *const fnames[] = {"Patient.000.ndjson",   "Patient.001.ndjson",
                                     "Encounter.000.ndjson", "Encounter.001.ndjson",
                                     "Condition.ndjson",     "Observation.ndjson"};
enum { F_P0, F_P1, F_E0, F_E1, F_COND, F_OBS, NFILES };

static struct gline lines[MAXLINES];
static int nlines;
static uint64_t rng = 0x2545F4914F6CDD1DULL;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static struct gline *add(int file, int pat, const char *fmt, ...) SG_PRINTF(3, 4);
static struct gline *add(int file, int pat, const char *fmt, ...)
{
    assert_true(nlines < MAXLINES);
    struct gline *g = &lines[nlines++];
    g->file = file;
    g->pat = pat;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g->text, sizeof g->text, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof g->text);
    return g;
}

#define SUBJ "\"subject\":{\"reference\":\"Patient/%s\"}"
#define QTY(v) "{\"value\":" v ",\"system\":\"http://unitsofmeasure.org\",\"code\":\"mm[Hg]\"}"

static void office(int file, int pat, const char *pid, const char *eid, const char *date)
{
    add(file, pat,
        "{\"resourceType\":\"Encounter\",\"id\":\"%s\",\"status\":\"finished\",\"class\":{"
        "\"code\":\"AMB\"},\"type\":[{\"coding\":[{\"system\":\"http://www.ama-assn.org/go/cpt\","
        "\"code\":\"99202\"}]}]," SUBJ ",\"period\":{\"start\":\"%sT09:00:00Z\",\"end\":"
        "\"%sT10:00:00Z\"}}",
        eid, pid, date, date);
}

/* The export of the test: patient i has id "p<i>"; its data vary with i so that the five
 * measures give different populations across patients. Patient 7's blood pressure line is
 * broken JSON, so patient 7 is one reject. Returns the index of that line. */
static int generate(void)
{
    nlines = 0;
    int broken = -1;
    for (int i = 0; i < NPAT; i++) {
        char pid[16], eid[16];
        snprintf(pid, sizeof pid, "p%d", i);
        snprintf(eid, sizeof eid, "e%d", i);
        add(i % 2 ? F_P1 : F_P0, i,
            "{\"resourceType\":\"Patient\",\"id\":\"%s\",\"identifier\":[{\"id\":\"x%d\","
            "\"value\":\"M%d\"}],\"gender\":\"%s\",\"birthDate\":\"%d-03-10\"}",
            pid, i, i, i % 2 ? "female" : "male", 1945 + (i * 7) % 40);
        char date[16];
        snprintf(date, sizeof date, "2025-%02d-15", 1 + i % 9);
        if (i % 5 != 0) office(i % 3 ? F_E0 : F_E1, i, pid, eid, date);
        if (i % 7 == 0) office(F_E1, i, pid, "f", "2025-11-01");
        if (i % 3 == 0)
            add(F_COND, i,
                "{\"resourceType\":\"Condition\",\"clinicalStatus\":{\"coding\":[{\"system\":"
                "\"http://terminology.hl7.org/CodeSystem/condition-clinical\",\"code\":"
                "\"active\"}]},\"code\":{\"coding\":[{\"system\":\"http://hl7.org/fhir/sid/"
                "icd-10-cm\",\"code\":\"I10\"}]}," SUBJ ",\"onsetDateTime\":\"2020-01-01\"}",
                pid);
        if (i % 3 == 0 || i == 7) {
            struct gline *g =
                add(F_OBS, i,
                    "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{"
                    "\"system\":\"http://loinc.org\",\"code\":\"85354-9\"}]}," SUBJ
                    ",\"encounter\":{\"reference\":\"Encounter/%s\"},\"effectiveDateTime\":"
                    "\"%sT09:30:00Z\",\"component\":[{\"code\":{\"coding\":[{\"system\":"
                    "\"http://loinc.org\",\"code\":\"8480-6\"}]},\"valueQuantity\":" QTY(
                        "%d") "},{\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":"
                              "\"8462-4\"}]},\"valueQuantity\":" QTY("%d") "}]}",
                    pid, eid, date, 120 + (i % 4) * 10, 80 + (i % 2) * 10);
            if (i == 7) {
                g->text[strlen(g->text) - 1] = '\0'; /* drop the closing brace */
                broken = (int)(g - lines);
            }
        }
        if (i % 4 == 1)
            add(F_OBS, i,
                "{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"coding\":[{"
                "\"system\":\"http://loinc.org\",\"code\":\"24604-1\"}]}," SUBJ
                ",\"effectiveDateTime\":\"%s\"}",
                pid, i % 8 == 1 ? "2024-12-01" : "2023-01-01");
    }
    /* resources of patients not in the export, and one without a patient reference */
    office(F_E0, -2, "ghost1", "g1", "2025-02-02");
    office(F_E1, -2, "ghost1", "g2", "2025-02-03");
    office(F_E1, -3, "ghost2", "g3", "2025-02-04");
    add(F_COND, -1,
        "{\"resourceType\":\"Condition\",\"code\":{\"coding\":[{\"system\":\"http://hl7.org/"
        "fhir/sid/icd-10-cm\",\"code\":\"I10\"}]},\"onsetDateTime\":\"2020-01-01\"}");
    /* shuffle (Fisher-Yates): patients and resources interleave in every file */
    for (int i = nlines - 1; i > 0; i--) {
        int j = (int)rnd((unsigned)i + 1);
        if (i == broken)
            broken = j;
        else if (j == broken)
            broken = i;
        struct gline t = lines[i];
        lines[i] = lines[j];
        lines[j] = t;
    }
    return broken;
}

static void write_export(const char *dir)
{
    FILE *f[NFILES];
    long n[NFILES] = {0};
    for (int k = 0; k < NFILES; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, fnames[k]);
        assert_non_null(f[k] = fopen(path, "w"));
    }
    for (int i = 0; i < nlines; i++) {
        struct gline *g = &lines[i];
        if (i % 11 == 0) { /* blank lines count in the numbering */
            fputs("\n", f[g->file]);
            n[g->file]++;
        }
        fprintf(f[g->file], "%s\n", g->text);
        g->lineno = ++n[g->file];
    }
    for (int k = 0; k < NFILES; k++)
        fclose(f[k]);
}

/* Reference populations of patient i: its lines in one collection Bundle. */
static void reference(int i, struct meas_pops pops[MEAS_COUNT])
{
    size_t cap = 65536, len = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    len += (size_t)snprintf(b, cap,
                            "{\"resourceType\":\"Bundle\",\"type\":\"collection\","
                            "\"entry\":[");
    int first = 1;
    for (int k = 0; k < nlines; k++) {
        if (lines[k].pat != i) continue;
        len += (size_t)snprintf(b + len, cap - len, "%s{\"resource\":%s}", first ? "" : ",",
                                lines[k].text);
        assert_true(len < cap - 16);
        first = 0;
    }
    snprintf(b + len, cap - len, "]}");
    struct meas_patient *p = meas_patient_new();
    struct meas_error e;
    assert_int_equal(meas_patient_from_text(eng, b, strlen(b), p, &e), SG_OK);
    for (int m = 0; m < MEAS_COUNT; m++)
        assert_int_equal(meas_evaluate(eng, p, (enum meas_id)m, &mp, &pops[m]), SG_OK);
    meas_patient_free(p);
    free(b);
}

/* Open descriptors of this process on files under dir (deleted files included). */
static int fds_under(const char *dir)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char lp[300], target[PATH_MAX];
        snprintf(lp, sizeof lp, "/proc/self/fd/%s", de->d_name);
        ssize_t l = readlink(lp, target, sizeof target - 1);
        if (l <= 0) continue;
        target[l] = '\0';
        if (!strncmp(target, dir, strlen(dir)) && target[strlen(dir)] == '/') n++;
    }
    closedir(d);
    return n;
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
    closedir(d);
    return n;
}

struct got {
    int seen[NPAT];
    int order[NPAT], norder;
    int rejects;
    int rej_broken, rej_ghost1, rej_ghost2, rej_noref;
};

/* Reads the whole export with the given budget and checks every patient against the
 * reference and every reject against where it was written. */
static void read_export(const char *exp, const char *tmp, size_t budget, int broken,
                        struct meas_pops ref[NPAT][MEAS_COUNT], struct got *g)
{
    memset(g, 0, sizeof *g);
    char *paths[] = {(char *)exp};
    struct meas_input *in;
    char err[SG_ERRLEN];
    assert_int_equal(meas_input_open(paths, 1, &in, err, sizeof err), SG_OK);
    meas_input_set_bulk_budget(in, budget);
    struct meas_patient *p = meas_patient_new();
    for (;;) {
        const char *file;
        long line;
        struct meas_error e;
        int r = meas_input_next(in, eng, p, &file, &line, &e);
        if (r == 0) break;
        /* while the input is open, the partitions not yet read are open files under TMPDIR,
         * already unlinked (each is closed once loaded) */
        assert_true(fds_under(tmp) < (int)meas_input_bulk_partitions(in));
        assert_int_equal(entries(tmp), 0);
        if (r == 1) {
            int i;
            assert_int_equal(sscanf(meas_patient_id(p), "p%d", &i), 1);
            assert_true(i >= 0 && i < NPAT && i != 7);
            assert_int_equal(g->seen[i], 0);
            g->seen[i] = 1;
            g->order[g->norder++] = i;
            for (int m = 0; m < MEAS_COUNT; m++) {
                struct meas_pops pp;
                assert_int_equal(meas_evaluate(eng, p, (enum meas_id)m, &mp, &pp), SG_OK);
                assert_memory_equal(&pp, &ref[i][m], sizeof pp);
            }
            continue;
        }
        assert_true(r == SG_EPARSE || r == SG_EINVAL);
        g->rejects++;
        const struct gline *want = NULL;
        if (r == SG_EPARSE) {
            want = &lines[broken];
            g->rej_broken++;
        } else if (strstr(e.msg, "'ghost1'")) {
            g->rej_ghost1++;
            for (int k = 0; k < nlines && !want; k++) /* the first of its lines in file order */
                if (lines[k].pat == -2 && lines[k].file == F_E0) want = &lines[k];
        } else if (strstr(e.msg, "'ghost2'")) {
            g->rej_ghost2++;
            for (int k = 0; k < nlines && !want; k++)
                if (lines[k].pat == -3) want = &lines[k];
        } else {
            assert_non_null(strstr(e.msg, "without a subject/patient reference"));
            g->rej_noref++;
            for (int k = 0; k < nlines && !want; k++)
                if (lines[k].pat == -1) want = &lines[k];
        }
        assert_non_null(want);
        assert_non_null(strstr(file, fnames[want->file]));
        assert_int_equal(line, want->lineno);
    }
    meas_input_close(in);
    meas_patient_free(p);
    assert_int_equal(fds_under(tmp), 0);
    assert_int_equal(entries(tmp), 0);
}

static void test_bulk_partitions(void **state)
{
    (void)state;
    char *exp = exp_dir, *tmp = tmp_dir;
    assert_non_null(mkdtemp(exp));
    if (!mkdtemp(tmp)) {
        rmdir(exp);
        fail_msg("cannot create %s", tmp);
    }
    made_dirs = 1;
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    assert_int_equal(setenv("TMPDIR", tmp, 1), 0);

    int broken = generate();
    assert_true(broken >= 0);
    write_export(exp);
    static struct meas_pops ref[NPAT][MEAS_COUNT];
    int ip = 0;
    for (int i = 0; i < NPAT; i++)
        if (i != 7) {
            reference(i, ref[i]);
            ip += ref[i][MEAS_CMS165].initial_population;
        }
    assert_true(ip > 0); /* the data reach the measures, not only the reader */

    /* a budget of 2 KiB: dozens of partitions */
    struct got tiny, one, again;
    read_export(exp, tmp, 2048, broken, ref, &tiny);
    char *paths[] = {exp};
    struct meas_input *in;
    char err[SG_ERRLEN];
    assert_int_equal(meas_input_open(paths, 1, &in, err, sizeof err), SG_OK);
    meas_input_set_bulk_budget(in, 2048);
    struct meas_patient *p = meas_patient_new();
    const char *file;
    long line;
    struct meas_error e;
    int r;
    do /* the first patient, then close early: the partitions go with the input */
        r = meas_input_next(in, eng, p, &file, &line, &e);
    while (r < 0 && r != SG_EIO && r != SG_ENOMEM);
    assert_int_equal(r, 1);
    assert_true(meas_input_bulk_partitions(in) >= 20);
    assert_true(fds_under(tmp) >= 1);
    assert_true(fds_under(tmp) < (int)meas_input_bulk_partitions(in));
    assert_int_equal(entries(tmp), 0);
    meas_input_close(in);
    assert_int_equal(fds_under(tmp), 0);

    /* the default budget: one partition, patients in Patient file order */
    read_export(exp, tmp, 0, broken, ref, &one);
    read_export(exp, tmp, 2048, broken, ref, &again);
    for (int k = 0; k < 2; k++) {
        struct got *g = k ? &one : &tiny;
        assert_int_equal(g->norder, NPAT - 1);
        assert_int_equal(g->rejects, 4);
        assert_int_equal(g->rej_broken, 1);
        assert_int_equal(g->rej_ghost1, 1);
        assert_int_equal(g->rej_ghost2, 1);
        assert_int_equal(g->rej_noref, 1);
    }
    int pos = 0;
    for (int f = F_P0; f <= F_P1; f++)
        for (int k = 0; k < nlines; k++)
            if (lines[k].file == f && lines[k].pat != 7)
                assert_int_equal(one.order[pos++], lines[k].pat);
    /* many partitions: the same order on every run */
    assert_memory_equal(tiny.order, again.order, sizeof tiny.order);

    /* TMPDIR that does not exist: a clear I/O error, nothing left behind */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/missing", tmp);
    assert_int_equal(setenv("TMPDIR", bad, 1), 0);
    assert_int_equal(meas_input_open(paths, 1, &in, err, sizeof err), SG_OK);
    memset(&e, 0, sizeof e);
    assert_int_equal(meas_input_next(in, eng, p, &file, &line, &e), SG_EIO);
    assert_non_null(strstr(e.msg, "temporary file"));
    meas_input_close(in);
    assert_int_equal(fds_under(tmp), 0);

    meas_patient_free(p);
    if (saved) {
        setenv("TMPDIR", saved, 1);
        free(saved);
    } else {
        unsetenv("TMPDIR");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bulk_partitions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
