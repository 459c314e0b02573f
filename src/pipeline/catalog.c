/* catalog.c: the measures catalog and the star-year parameter files: loading a year's file
 * (data/stars/YYYY.txt) and seeding the catalog from every year file, on `migrate up` and when
 * the importer needs a measure the catalog lacks.
 *
 * The catalog (store_measure_*) is keyed by (star_year, code) and store.c accepts a measure code
 * only when the catalog has it, so measure results cannot be written before it is seeded. The
 * one source of truth for the Star measures is DATA_DIR/stars/YYYY.txt (the files the Star
 * Ratings engine reads); every such file is parsed with stars_params_parse() and its measures
 * upserted. BPD (HEDIS "Blood Pressure Control for Patients With Diabetes") is not a Star
 * measure and so is in no year file; it is added for each seeded star year with weight 0 and
 * cms_id "HEDIS", so it can be imported and modelled without touching any rating. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "model/features.h"
#include "pipeline/pipeline.h"
#include "stars/stars.h"

static int all_known(const struct store_measure_list *l)
{
    for (int k = 0; k < FEATURES_N_MEASURES; k++) {
        int found = 0;
        for (size_t i = 0; i < l->n && !found; i++)
            found = !strcmp(l->items[i].code, features_measures[k]);
        if (!found) return 0;
    }
    return 1;
}

int pl_star_params_load(const char *data_dir, const char *path_override, int year,
                        struct stars_params *p, char *err, size_t errlen)
{
    char path[4400];
    if (path_override)
        snprintf(path, sizeof path, "%s", path_override);
    else
        snprintf(path, sizeof path, "%s/stars/%d.txt", data_dir, year);
    char *text;
    size_t len;
    int rc = sg_read_file(path, 1u << 20, &text, &len, err, errlen);
    if (rc) return rc;
    rc = stars_params_parse(text, len, path, p, err, errlen);
    free(text);
    if (rc) return rc;
    if (p->star_year != year)
        return sg_errf(err, errlen, SG_EINVAL, "%s is for star year %d, not %d", path,
                       p->star_year, year);
    return SG_OK;
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

int pl_star_years(const char *data_dir, int *years, int max, int *n, char *err, size_t errlen)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/stars", data_dir);
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return sg_errf(err, errlen, SG_EIO, "%s: cannot open the star-year parameter files", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        int y = 0;
        if (strlen(nm) != 8 || strcmp(nm + 4, ".txt")) continue;
        for (int i = 0; i < 4; i++) y = nm[i] >= '0' && nm[i] <= '9' && y >= 0 ? y * 10 + nm[i] - '0' : -1;
        if (y >= 2000 && y <= 2100 && *n < max) years[(*n)++] = y;
    }
    closedir(d);
    qsort(years, (size_t)*n, sizeof *years, cmp_int);
    return *n ? SG_OK : sg_errf(err, errlen, SG_ENOTFOUND, "%s: no YYYY.txt star-year files", dir);
}

/* Copies src into dst[size]; SG_ERANGE (naming the field) when it does not fit. */
static int copy_field(char *dst, size_t size, const char *src, const char *field, int year,
                      const char *code, char *err, size_t errlen)
{
    size_t n = strlen(src);
    if (n >= size)
        return sg_errf(err, errlen, SG_ERANGE, "star year %d, measure %s: %s longer than %zu bytes",
                       year, code, field, size - 1);
    memcpy(dst, src, n + 1);
    return SG_OK;
}

/* Maps one star year's measures onto catalog rows (plus BPD, see the top of the file); *n rows. */
static int year_rows(const struct stars_params *p, struct store_measure *rows, size_t *n, char *err,
                     size_t errlen)
{
    int y = p->star_year, rc;
    *n = 0;
    for (size_t i = 0; i < p->nmeasures; i++) {
        const struct stars_measure_def *d = &p->measures[i];
        struct store_measure *m = &rows[(*n)++];
        memset(m, 0, sizeof *m);
        m->star_year = y;
        const char *dom = d->domain;
        for (size_t k = 0; k < p->ndomains; k++)
            if (!strcmp(p->domains[k].id, d->domain)) dom = p->domains[k].name;
        if ((rc = copy_field(m->code, sizeof m->code, d->code, "code", y, d->code, err, errlen)) ||
            (rc = copy_field(m->cms_id, sizeof m->cms_id, d->cms_id, "cms_id", y, d->code, err, errlen)) ||
            (rc = copy_field(m->name, sizeof m->name, d->name, "name", y, d->code, err, errlen)) ||
            (rc = copy_field(m->domain, sizeof m->domain, dom, "domain", y, d->code, err, errlen)))
            return rc;
        m->part = d->part;
        if (store_weight_cat_parse(stars_category_name(d->category), &m->weighting_category))
            return sg_errf(err, errlen, SG_EINVAL, "star year %d, measure %s: category %s not in the catalog's list",
                           y, d->code, stars_category_name(d->category));
        m->weight = d->weight;
        m->direction = d->higher_is_better ? STORE_HIGHER_BETTER : STORE_LOWER_BETTER;
        m->display_precision = d->precision;
        m->member_level = d->member_level;
    }
    if (stars_find_code(p, "BPD") < 0) {
        struct store_measure *m = &rows[(*n)++];
        memset(m, 0, sizeof *m);
        m->star_year = y;
        snprintf(m->code, sizeof m->code, "BPD");
        snprintf(m->cms_id, sizeof m->cms_id, "HEDIS");
        snprintf(m->name, sizeof m->name,
                 "Blood Pressure Control for Patients With Diabetes (HEDIS; not a Star measure)");
        m->part = 'C';
        snprintf(m->domain, sizeof m->domain, "HEDIS measures outside the Star Ratings");
        m->weighting_category = STORE_WCAT_INTERMEDIATE_OUTCOME;
        m->weight = 0;
        m->direction = STORE_HIGHER_BETTER;
        m->display_precision = 0;
        m->member_level = 1;
    }
    return SG_OK;
}

int pl_catalog_seed(struct store *st, const struct store_actor *a, const char *data_dir,
                    int *seeded, char *err, size_t errlen)
{
    int years[64], ny, rc;
    if (seeded) *seeded = 0;
    if (!data_dir || !*data_dir)
        return sg_errf(err, errlen, SG_EINVAL, "measures catalog: no data directory given");
    if ((rc = pl_star_years(data_dir, years, 64, &ny, err, errlen))) return rc;
    struct stars_params *p = malloc(sizeof *p);
    struct store_measure *rows = calloc(STARS_MAX_MEASURES + 1, sizeof *rows);
    int count = 0;
    if (!p || !rows) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < ny && !rc; i++) {
        size_t n;
        if ((rc = pl_star_params_load(data_dir, NULL, years[i], p, err, errlen)) ||
            (rc = year_rows(p, rows, &n, err, errlen)) ||
            (rc = store_measure_upsert_batch(st, a, rows, n, err, errlen)))
            break;
        count += (int)n;
    }
    if (!rc) LOG_INFO("event=catalog_seeded rows=%d", count);
out:
    free(p);
    free(rows);
    if (seeded) *seeded = count;
    return rc;
}

int pl_catalog_ensure(struct store *st, const struct store_actor *a, const char *data_dir,
                      int *seeded, char *err, size_t errlen)
{
    struct store_measure_list l;
    if (seeded) *seeded = 0;
    int rc = store_measure_list(st, 0, &l, err, errlen);
    if (rc) return rc;
    int known = all_known(&l);
    store_measure_list_free(&l);
    if (known) return SG_OK;
    return pl_catalog_seed(st, a, data_dir, seeded, err, errlen);
}
