/* testcases.c: runs the published eCQM test cases (MADiE exports: a patient Bundle and the
 * expected individual MeasureReport per case) through the engine, for `stargap measure test`
 * and the ctest suite. Titles come from expected_results.csv (series + title) when present. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "measures/measures.h"

#define CASE_FILE_MAX (64u << 20)

/* snprintf that may truncate (long paths are cut, not overflowed). */
static void sfmt(char *out, size_t n, const char *fmt, ...) SG_PRINTF(3, 4);
static void sfmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

struct title {
    char uuid[64];
    char text[256];
};

/* Splits one CSV record (RFC 4180 quoting) into at most nf fields, in place. */
static int csv_split(char *line, char **f, int nf)
{
    int n = 0;
    char *p = line;
    while (n < nf) {
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            while (*p) {
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else
                    *w++ = *p++;
            }
            *w = '\0';
            if (*p == ',')
                p++;
            else
                break;
        } else {
            f[n++] = p;
            char *c = strchr(p, ',');
            if (!c) break;
            *c = '\0';
            p = c + 1;
        }
    }
    return n;
}

static struct title *load_titles(const char *dir, size_t *n)
{
    *n = 0;
    char path[4096], *text = NULL;
    size_t len;
    sfmt(path, sizeof path, "%s/expected_results.csv", dir);
    if (sg_read_file(path, CASE_FILE_MAX, &text, &len, NULL, 0) != SG_OK) return NULL;
    size_t cap = 0;
    struct title *t = NULL;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[6];
        line[strcspn(line, "\r")] = '\0';
        if (csv_split(line, f, 6) < 5 || !strcmp(f[2], "test_uuid")) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            struct title *nt = realloc(t, cap * sizeof *t);
            if (!nt) break;
            t = nt;
        }
        sfmt(t[*n].uuid, sizeof t[*n].uuid, "%s", f[2]);
        sfmt(t[*n].text, sizeof t[*n].text, "%s %s", f[3], f[4]);
        (*n)++;
    }
    free(text);
    return t;
}

static int json_count(json_t *group, const char *code)
{
    size_t i;
    json_t *pop;
    json_array_foreach(json_object_get(group, "population"), i, pop)
    {
        json_t *coding = json_array_get(json_object_get(json_object_get(pop, "code"), "coding"), 0);
        const char *c = json_string_value(json_object_get(coding, "code"));
        if (c && !strcmp(c, code)) return (int)json_integer_value(json_object_get(pop, "count"));
    }
    return 0;
}

static void run_one(const struct meas_engine *eng, struct meas_patient *pat, const char *mdir,
                    const char *uuid, struct meas_case *c)
{
    char path[4096], *text = NULL;
    size_t len;
    json_error_t je;
    sfmt(path, sizeof path, "%s/%s-expected-MeasureReport.json", mdir, uuid);
    json_t *mr = json_load_file(path, 0, &je);
    if (!mr) {
        c->error = SG_EPARSE;
        sfmt(c->errmsg, sizeof c->errmsg, "%s:%d: %s", path, je.line, je.text);
        return;
    }
    if (c->title[0] == '\0') {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(mr, "extension"), i, x)
        {
            const char *u = json_string_value(json_object_get(x, "url"));
            if (u && strstr(u, "cqfm-testCaseDescription"))
                sfmt(c->title, sizeof c->title, "%s",
                     json_string_value(json_object_get(x, "valueMarkdown")));
        }
    }
    json_t *g = json_array_get(json_object_get(mr, "group"), 0);
    c->expected.initial_population = (uint8_t)(json_count(g, "initial-population") > 0);
    c->expected.denominator = (uint8_t)(json_count(g, "denominator") > 0);
    c->expected.denominator_exclusion = (uint8_t)(json_count(g, "denominator-exclusion") > 0);
    c->expected.numerator = (uint8_t)(json_count(g, "numerator") > 0);
    json_t *per = json_object_get(mr, "period");
    struct meas_period period;
    char perr[SG_ERRLEN];
    int rc = meas_period_parse(json_string_value(json_object_get(per, "start")),
                               json_string_value(json_object_get(per, "end")), &period, perr,
                               sizeof perr);
    json_decref(mr);
    if (rc != SG_OK) {
        c->error = rc;
        sfmt(c->errmsg, sizeof c->errmsg, "%s: %s", path, perr);
        return;
    }
    sfmt(path, sizeof path, "%s/%s-patient-bundle.json", mdir, uuid);
    rc = sg_read_file(path, CASE_FILE_MAX, &text, &len, c->errmsg, sizeof c->errmsg);
    if (rc != SG_OK) {
        c->error = rc;
        return;
    }
    struct meas_error e;
    rc = meas_patient_from_text(eng, text, len, pat, &e);
    free(text);
    if (rc != SG_OK) {
        c->error = rc;
        sfmt(c->errmsg, sizeof c->errmsg, "%s: %s: %s", path, e.where, e.msg);
        return;
    }
    if (meas_evaluate(eng, pat, c->id, &period, &c->got) != SG_OK) {
        c->error = SG_EINTERNAL;
        return;
    }
    c->agree = !memcmp(&c->expected, &c->got, sizeof c->got);
}

static int is_bundle(const struct dirent *d)
{
    const char *s = strstr(d->d_name, "-patient-bundle.json");
    return s && !s[strlen("-patient-bundle.json")];
}

static int is_dir(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

int meas_run_cases(const struct meas_engine *eng, const char *dir, meas_case_fn fn, void *ud,
                   char *err, size_t errlen)
{
    struct dirent **mdirs = NULL;
    int nm = scandir(dir, &mdirs, is_dir, alphasort);
    if (nm < 0) return sg_errf(err, errlen, SG_EIO, "cannot read test-case directory %s", dir);
    size_t ntitles;
    struct title *titles = load_titles(dir, &ntitles);
    struct meas_patient *pat = meas_patient_new();
    int rc = pat ? SG_OK : SG_ENOMEM;
    for (int i = 0; i < nm && rc == SG_OK; i++) {
        enum meas_id id;
        char name[256];
        sfmt(name, sizeof name, "%s", mdirs[i]->d_name);
        name[strcspn(name, "-")] = '\0';
        if (meas_parse_id(name, &id) != SG_OK) continue;
        char mdir[4096];
        sfmt(mdir, sizeof mdir, "%s/%s", dir, mdirs[i]->d_name);
        struct dirent **files = NULL;
        int nf = scandir(mdir, &files, is_bundle, alphasort);
        for (int k = 0; k < nf; k++) {
            struct meas_case c;
            memset(&c, 0, sizeof c);
            c.id = id;
            sfmt(c.uuid, sizeof c.uuid, "%.*s",
                 (int)(strlen(files[k]->d_name) - strlen("-patient-bundle.json")),
                 files[k]->d_name);
            for (size_t t = 0; t < ntitles; t++)
                if (!strcmp(titles[t].uuid, c.uuid))
                    sfmt(c.title, sizeof c.title, "%s", titles[t].text);
            run_one(eng, pat, mdir, c.uuid, &c);
            fn(&c, ud);
            free(files[k]);
        }
        free(files);
    }
    for (int i = 0; i < nm; i++)
        free(mdirs[i]);
    free(mdirs);
    free(titles);
    meas_patient_free(pat);
    return rc;
}
