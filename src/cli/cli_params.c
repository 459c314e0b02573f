/* cli_params.c: loading the shipped year-parameter files (data/stars/YYYY.txt) for commands, and
 * seeding the measures catalog table from them, so the Star Ratings engine and the database read
 * one source of truth. File I/O lives here, not in the pure stars module. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/fileio.h"
#include "db/store.h"
#include "stars/stars.h"

#define PARAMS_FILE_MAX (1u << 20)

const char *cli_data_dir(const struct sg_config *cfg)
{
    return cfg->data_dir[0] ? cfg->data_dir : STARGAP_SOURCE_DIR "/data";
}

int cli_load_star_params(const struct sg_config *cfg, const char *path_override, int year,
                         struct stars_params *p, char *err, size_t errlen)
{
    char path[2048];
    if (path_override)
        snprintf(path, sizeof path, "%s", path_override);
    else
        snprintf(path, sizeof path, "%s/stars/%d.txt", cli_data_dir(cfg), year);
    char *text;
    size_t len;
    int rc = sg_read_file(path, PARAMS_FILE_MAX, &text, &len, err, errlen);
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

int cli_star_years(const struct sg_config *cfg, int *years, int max, int *n, char *err,
                   size_t errlen)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/stars", cli_data_dir(cfg));
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return sg_errf(err, errlen, SG_EIO, "%s: cannot open the year-parameter directory", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        int y;
        char tail[8];
        if (strlen(e->d_name) == 8 && sscanf(e->d_name, "%4d.%3s", &y, tail) == 2 &&
            !strcmp(tail, "txt") && y >= 2000 && y <= 2100 && *n < max)
            years[(*n)++] = y;
    }
    closedir(d);
    qsort(years, (size_t)*n, sizeof *years, cmp_int);
    return *n ? SG_OK : sg_errf(err, errlen, SG_ENOTFOUND, "%s: no YYYY.txt year files", dir);
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

/* Maps one year's measure definitions onto catalog rows. */
static int params_to_rows(const struct stars_params *p, struct store_measure *rows, char *err,
                          size_t errlen)
{
    for (size_t i = 0; i < p->nmeasures; i++) {
        const struct stars_measure_def *m = &p->measures[i];
        struct store_measure *r = &rows[i];
        memset(r, 0, sizeof *r);
        r->star_year = p->star_year;
        r->part = m->part;
        const char *domain = m->domain;
        for (size_t k = 0; k < p->ndomains; k++)
            if (!strcmp(p->domains[k].id, m->domain)) domain = p->domains[k].name;
        int y = p->star_year, rc;
        if ((rc = copy_field(r->code, sizeof r->code, m->code, "code", y, m->code, err, errlen)) ||
            (rc = copy_field(r->cms_id, sizeof r->cms_id, m->cms_id, "cms_id", y, m->code, err, errlen)) ||
            (rc = copy_field(r->name, sizeof r->name, m->name, "name", y, m->code, err, errlen)) ||
            (rc = copy_field(r->domain, sizeof r->domain, domain, "domain", y, m->code, err, errlen)))
            return rc;
        if (store_weight_cat_parse(stars_category_name(m->category), &r->weighting_category))
            return sg_errf(err, errlen, SG_EINVAL, "star year %d, measure %s: unknown category %s",
                           p->star_year, m->code, stars_category_name(m->category));
        r->weight = m->weight;
        r->direction = m->higher_is_better ? STORE_HIGHER_BETTER : STORE_LOWER_BETTER;
        r->display_precision = m->precision;
        r->member_level = m->member_level;
    }
    return SG_OK;
}

int cli_seed_measures(const struct sg_config *cfg, struct store *st, int *nrows, char *err,
                      size_t errlen)
{
    int years[64], ny, rc;
    *nrows = 0;
    if ((rc = cli_star_years(cfg, years, 64, &ny, err, errlen))) return rc;
    struct stars_params *p = malloc(sizeof *p);
    struct store_measure *rows = malloc(sizeof *rows * STARS_MAX_MEASURES);
    if (!p || !rows) {
        rc = SG_ENOMEM;
        goto done;
    }
    const struct store_actor system = {.user_id = "system:seed", .ip_address = NULL};
    for (int i = 0; i < ny; i++) {
        if ((rc = cli_load_star_params(cfg, NULL, years[i], p, err, errlen))) goto done;
        if ((rc = params_to_rows(p, rows, err, errlen))) goto done;
        if ((rc = store_measure_upsert_batch(st, &system, rows, p->nmeasures, err, errlen)))
            goto done;
        *nrows += (int)p->nmeasures;
    }
done:
    free(p);
    free(rows);
    return rc;
}
