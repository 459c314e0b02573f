/* bench_stars.c: times the Star Ratings engine on a real CMS data table, excluding parsing.
 *
 *   bench_stars [--year Y] [--data-table DIR] [--params FILE] [--reps N]
 *
 * (1) rates every contract of the year (stars_rate: measure stars, domain stars, Part C, Part D
 *     and overall with and without the improvement measures, reward factor, CAI, hold-harmless);
 * (2) computes the cut points of every clustered measure and plan type with 10-fold resampling,
 *     Tukey outlier deletion and Ward clustering.
 * The files are read and parsed once before timing; each part is repeated N times (default 21)
 * and the median, minimum and maximum wall-clock times are printed. Defaults: star year 2025 on
 * the copy in tests/data/cms/2025. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/csv.h"
#include "core/fileio.h"
#include "stars/stars.h"
#include "stars/table.h"

static const char *const tags[STARS_NFILE] = {
    " - Measure Stars",     " - Measure Data",      " - Summary Rating", " - CAI",
    " - Part C Cut Points", " - Part D Cut Points", " - Notes"};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int load(const char *dir, struct stars_table *t)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "bench_stars: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    char err[SG_ERRLEN];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        int kind = -1;
        for (int k = 0; k < STARS_NFILE; k++)
            if (strcasestr(e->d_name, tags[k])) kind = k;
        if (kind < 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) {
            rc = -1;
            break;
        }
        struct sg_csv *c;
        rc = sg_csv_open(&c, f, path, NULL, err, sizeof err);
        const char *fl[STARS_TABLE_MAX_COLS];
        while (!rc && (rc = sg_csv_next(c, err, sizeof err)) == 1) {
            size_t nf = sg_csv_nfields(c);
            if (nf > STARS_TABLE_MAX_COLS) nf = STARS_TABLE_MAX_COLS;
            for (size_t i = 0; i < nf; i++)
                fl[i] = sg_csv_field(c, i);
            rc = stars_table_feed(t, (enum stars_file_kind)kind, sg_csv_record(c), sg_csv_line(c),
                                  fl, nf, path, err, sizeof err);
        }
        if (rc > 0) rc = 0;
        sg_csv_free(c);
        fclose(f);
    }
    closedir(d);
    if (!rc) rc = stars_table_check(t, err, sizeof err);
    if (rc) fprintf(stderr, "bench_stars: %s\n", err);
    return rc;
}

static void report(const char *what, double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    printf("%-44s median %9.3f ms   min %9.3f ms   max %9.3f ms   (%d runs)\n", what, v[n / 2],
           v[0], v[n - 1], n);
}

int main(int argc, char **argv)
{
    int year = 2025, reps = 21;
    const char *dir = NULL, *params = NULL;
    char dbuf[1024], pbuf[1024], err[SG_ERRLEN];
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--year"))
            year = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--data-table"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--params"))
            params = argv[i + 1];
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else {
            fprintf(
                stderr,
                "usage: bench_stars [--year Y] [--data-table DIR] [--params FILE] [--reps N]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 10000) reps = 21;
    if (!dir) {
        snprintf(dbuf, sizeof dbuf, "%s/tests/data/cms/%d", STARGAP_SOURCE_DIR, year);
        dir = dbuf;
    }
    if (!params) {
        snprintf(pbuf, sizeof pbuf, "%s/data/stars/%d.txt", STARGAP_SOURCE_DIR, year);
        params = pbuf;
    }
    static struct stars_params p;
    static struct stars_table t;
    char *text;
    size_t len;
    if (sg_read_file(params, 1 << 20, &text, &len, err, sizeof err) ||
        stars_params_parse(text, len, params, &p, err, sizeof err)) {
        fprintf(stderr, "bench_stars: %s\n", err);
        return 1;
    }
    free(text);
    stars_table_init(&t, &p);
    if (load(dir, &t)) return 1;

    /* inputs prepared outside the timed loops */
    struct stars_contract_input *in = calloc(t.n, sizeof *in);
    struct stars_result *res = malloc(sizeof *res);
    double *times = malloc((size_t)reps * sizeof *times);
    size_t nin = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (!t.c[i].in_summary) continue;
        stars_table_input(&t, &t.c[i], 1, 0, &in[nin]);
        (void)stars_table_infer_isnp(&t, &t.c[i], &in[nin]);
        nin++;
    }
    struct job {
        size_t m;
        double *s;
        size_t n;
    } jobs[2 * STARS_MAX_MEASURES];
    size_t nj = 0, nscores = 0;
    for (size_t m = 0; m < p.nmeasures; m++) {
        if (p.measures[m].method != STARS_METHOD_CLUSTER) continue;
        for (int pdp = 0; pdp < (p.measures[m].part == 'D' ? 2 : 1); pdp++) {
            double *s = malloc((t.n + 1) * sizeof *s);
            size_t n = 0;
            for (size_t i = 0; i < t.n; i++) {
                const struct stars_table_contract *c = &t.c[i];
                int is_pdp = stars_table_class(c) == STARS_CLASS_PDP;
                if (!c->has_score[m] || (p.measures[m].part == 'C' ? is_pdp : is_pdp != pdp))
                    continue;
                s[n++] = c->score[m];
            }
            jobs[nj++] = (struct job){m, s, n};
            nscores += n;
        }
    }
    if (!in || !res || !times) return 1;

    long rated = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now_ms();
        rated = 0;
        for (size_t i = 0; i < nin; i++) {
            if (stars_rate(&p, &in[i], NULL, NULL, res, err, sizeof err)) {
                fprintf(stderr, "bench_stars: %s\n", err);
                return 1;
            }
            rated += res->overall.rated + res->part_c.rated + res->part_d.rated;
        }
        times[r] = now_ms() - t0;
    }
    char what[128];
    snprintf(what, sizeof what, "rate %zu contracts (%ld ratings)", nin, rated);
    report(what, times, reps);

    struct stars_cut_options o;
    stars_cut_options_default(&o);
    for (int r = 0; r < reps; r++) {
        double t0 = now_ms();
        for (size_t j = 0; j < nj; j++) {
            struct stars_cut cut;
            if (stars_cutpoints(&p.measures[jobs[j].m], jobs[j].s, jobs[j].n, NULL, 0, &o, &cut,
                                err, sizeof err))
                fprintf(stderr, "bench_stars: %s\n", err);
        }
        times[r] = now_ms() - t0;
    }
    snprintf(what, sizeof what, "cut points %zu measure/plan rows, %zu scores, 10 folds", nj,
             nscores);
    report(what, times, reps);

    for (size_t j = 0; j < nj; j++)
        free(jobs[j].s);
    free(in);
    free(res);
    free(times);
    stars_table_fini(&t);
    return 0;
}
