/* catalog.c: seeds the measures catalog from the star-year parameter files when the importer
 * needs a measure the catalog lacks.
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

/* The catalog's code syntax (store.c): 1..15 of A-Z 0-9 '-'. The year files name the survey and
 * HOS measures with lower-case slugs ("getting-needed-care"), which the catalog does not accept;
 * they are not member-level measures and are left out of the seeding. */
static int code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 15) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static int seed_year(struct store *st, const struct store_actor *a, const char *path, int *seeded,
                     char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = sg_read_file(path, 1 << 20, &text, &len, err, errlen);
    if (rc) return rc;
    struct stars_params *p = calloc(1, sizeof *p);
    struct store_measure *rows = calloc(STARS_MAX_MEASURES + 1, sizeof *rows);
    if (!p || !rows) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = stars_params_parse(text, len, path, p, err, errlen))) goto out;
    size_t n = 0;
    for (size_t i = 0; i < p->nmeasures; i++) {
        const struct stars_measure_def *d = &p->measures[i];
        if (!code_ok(d->code)) continue; /* slugs of survey measures: not catalog codes */
        struct store_measure *m = &rows[n++];
        m->star_year = p->star_year;
        snprintf(m->code, sizeof m->code, "%.15s", d->code); /* code_ok: <= 15 */
        snprintf(m->cms_id, sizeof m->cms_id, "%s", d->cms_id);
        snprintf(m->name, sizeof m->name, "%.127s", d->name); /* catalog names hold 127 */
        m->part = d->part;
        const char *dom = d->domain;
        for (size_t k = 0; k < p->ndomains; k++)
            if (!strcmp(p->domains[k].id, d->domain)) dom = p->domains[k].name;
        snprintf(m->domain, sizeof m->domain, "%.127s", dom);
        if (store_weight_cat_parse(stars_category_name(d->category), &m->weighting_category)) {
            rc = sg_errf(err, errlen, SG_EINVAL,
                         "%s: measure %s: category not in the catalog's list", path, d->code);
            goto out;
        }
        m->weight = d->weight;
        m->direction = d->higher_is_better ? STORE_HIGHER_BETTER : STORE_LOWER_BETTER;
        m->display_precision = d->precision;
        m->member_level = d->member_level;
    }
    if (stars_find_code(p, "BPD") < 0) {
        struct store_measure *m = &rows[n++];
        m->star_year = p->star_year;
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
    if ((rc = store_measure_upsert_batch(st, a, rows, n, err, errlen))) goto out;
    *seeded += (int)n;
out:
    free(text);
    free(p);
    free(rows);
    return rc;
}

int pl_catalog_ensure(struct store *st, const struct store_actor *a, const char *data_dir,
                      int *seeded, char *err, size_t errlen)
{
    struct store_measure_list l;
    int count = 0;
    if (seeded) *seeded = 0;
    int rc = store_measure_list(st, 0, &l, err, errlen);
    if (rc) return rc;
    int known = all_known(&l);
    store_measure_list_free(&l);
    if (known) return SG_OK;
    if (!data_dir || !*data_dir)
        return sg_errf(err, errlen, SG_EINVAL,
                       "measures catalog: not seeded and no data directory given");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/stars", data_dir);
    DIR *d = opendir(dir);
    if (!d)
        return sg_errf(err, errlen, SG_EIO, "%s: cannot open the star-year parameter files", dir);
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        const char *nm = e->d_name;
        if (strlen(nm) != 8 || strcmp(nm + 4, ".txt")) continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        rc = seed_year(st, a, path, &count, err, errlen);
    }
    closedir(d);
    if (!rc && count == 0)
        rc = sg_errf(err, errlen, SG_ENOTFOUND, "%s: no YYYY.txt star-year files", dir);
    if (!rc) LOG_INFO("event=catalog_seeded rows=%d", count);
    if (seeded) *seeded = count;
    return rc;
}
