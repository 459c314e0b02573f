/* cli_stars.c: `stargap stars rate|measure-stars|cutpoints|compare`.
 *
 * Reads the year parameters (data/stars/YYYY.txt) and CMS's published Star Ratings Data Table
 * CSVs from a directory (exactly as CMS publishes them: cp1252 or UTF-8 with BOM, 4 header rows),
 * feeds them to the pure stars module and prints CSV (or JSON for `rate`). All file reading is
 * here; src/stars/ does no I/O. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "core/csv.h"
#include "core/fileio.h"
#include "stars/stars.h"
#include "stars/table.h"

#ifndef STARGAP_SOURCE_DIR
#define STARGAP_SOURCE_DIR "."
#endif

#define PARAMS_MAX (1u << 20)

const char cli_stars_usage[] =
    "usage: stargap stars SUBCOMMAND --star-year Y --data-table DIR [options]\n"
    "\n"
    "CMS Part C & D Star Ratings from CMS's published Star Ratings Data Table CSVs.\n"
    "\n"
    "Subcommands:\n"
    "  rate           rate every contract from the published measure stars:\n"
    "                 contract_id,contract_type,part_c,part_d,overall\n"
    "  measure-stars  stars from the published scores and cut points (clustered measures;\n"
    "                 CAHPS cut points are base groups only): "
    "contract_id,measure_id,code,score,star\n"
    "  cutpoints      cut points computed from the scores (Tukey, resampling, Ward, guardrails):\n"
    "                 measure_id,code,plan_type,star2,star3,star4,star5\n"
    "  compare        how many of CMS's published ratings and measure stars are reproduced,\n"
    "                 and the ones that are not, with the reason\n"
    "\n"
    "Options:\n"
    "  --star-year Y         star year (selects data/stars/Y.txt)\n"
    "  --data-table DIR      directory with the CMS data table CSVs of that year\n"
    "  --params FILE         year-parameter file (default: DATA_DIR/stars/Y.txt)\n"
    "  --format csv|json     output format of `rate` (default csv)\n"
    "  --explain             `rate`: add mean, reward factor, CAI and hold-harmless columns\n"
    "  --prior DIR2          `cutpoints`, `compare`: prior year's data table, for guardrails\n"
    "                        (and, in `compare`, last year's stars for the disaster rule)\n"
    "  --folds N             `cutpoints`: resampling folds (default 10; 1 = none)\n"
    "  --no-outlier-deletion `cutpoints`: skip Tukey outer-fence deletion\n"
    "  --no-guardrails       `cutpoints`: skip guardrails\n";

struct sopts {
    const char *sub;
    long year;
    const char *dir, *params, *prior, *format;
    int explain;
    struct stars_cut_options cut;
};

static const char *const file_tags[STARS_NFILE] = {
    " - Measure Stars",     " - Measure Data",      " - Summary Rating", " - CAI",
    " - Part C Cut Points", " - Part D Cut Points", " - Notes"};

static int load_params(struct cli_ctx *ctx, const struct sopts *o, long year,
                       struct stars_params *p)
{
    char err[SG_ERRLEN];
    const char *override = (o->params && year == o->year) ? o->params : NULL;
    if (cli_load_star_params(ctx->cfg, override, (int)year, p, err, sizeof err) != SG_OK) {
        fprintf(stderr, "stargap stars: year parameters for %ld: %s\n", year, err);
        return -1;
    }
    return 0;
}

/* Finds the CSV of each kind in dir; paths[k] empty when absent. */
static int find_files(const char *dir, char paths[STARS_NFILE][1024])
{
    for (int k = 0; k < STARS_NFILE; k++)
        paths[k][0] = '\0';
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "stargap stars: %s: cannot open directory: %s\n", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcasecmp(e->d_name + n - 4, ".csv")) continue;
        for (int k = 0; k < STARS_NFILE; k++) {
            if (!strcasestr(e->d_name, file_tags[k])) continue;
            if (paths[k][0]) {
                fprintf(stderr, "stargap stars: %s: two files for '%s': %s and %s\n", dir,
                        file_tags[k] + 3, strrchr(paths[k], '/') + 1, e->d_name);
                rc = -1;
            }
            snprintf(paths[k], sizeof paths[k], "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return rc;
}

/* Reads the data table in dir into t. `need` is a bit mask of kinds that must be present. */
static int load_table(const char *dir, const struct stars_params *p, struct stars_table *t,
                      unsigned need)
{
    char paths[STARS_NFILE][1024], err[SG_ERRLEN];
    stars_table_init(t, p);
    if (find_files(dir, paths)) return -1;
    for (int k = 0; k < STARS_NFILE; k++) {
        if (!paths[k][0]) {
            if (need & (1u << k)) {
                fprintf(stderr, "stargap stars: %s: no '*%s*.csv' file\n", dir, file_tags[k]);
                return -1;
            }
            continue;
        }
        FILE *f = fopen(paths[k], "rb");
        if (!f) {
            fprintf(stderr, "stargap stars: %s: cannot open: %s\n", paths[k], strerror(errno));
            return -1;
        }
        struct sg_csv *csv;
        int rc = sg_csv_open(&csv, f, paths[k], NULL, err, sizeof err);
        const char *fields[STARS_TABLE_MAX_COLS];
        while (!rc && (rc = sg_csv_next(csv, err, sizeof err)) == 1) {
            size_t nf = sg_csv_nfields(csv);
            if (nf > STARS_TABLE_MAX_COLS) nf = STARS_TABLE_MAX_COLS;
            for (size_t i = 0; i < nf; i++)
                fields[i] = sg_csv_field(csv, i);
            rc = stars_table_feed(t, (enum stars_file_kind)k, sg_csv_record(csv), sg_csv_line(csv),
                                  fields, nf, paths[k], err, sizeof err);
        }
        sg_csv_free(csv);
        fclose(f);
        if (rc < 0) {
            fprintf(stderr, "stargap stars: %s\n", err);
            return -1;
        }
    }
    if (stars_table_check(t, err, sizeof err)) {
        fprintf(stderr, "stargap stars: %s: %s\n", dir, err);
        return -1;
    }
    return 0;
}

static int cmp_contract(const void *a, const void *b)
{
    return strcmp(((const struct stars_table_contract *)a)->id,
                  ((const struct stars_table_contract *)b)->id);
}

static const char *contract_type(const struct stars_table_contract *c)
{
    if (stars_table_class(c) == STARS_CLASS_PDP) return "PDP";
    return stars_table_offers_part_d(c) ? "MA-PD" : "MA-only";
}

static void fmt_rating(char *b, size_t n, const struct stars_summary *s)
{
    if (s->rated)
        snprintf(b, n, "%.1f", s->rating);
    else
        b[0] = '\0';
}

static int cmd_rate(struct sopts *o, const struct stars_params *p, struct stars_table *t)
{
    int json = o->format && !strcmp(o->format, "json");
    if (json)
        printf("[");
    else {
        printf("contract_id,contract_type,part_c,part_d,overall");
        if (o->explain)
            printf(",part_c_mean,part_c_reward,part_c_cai,part_d_mean,part_d_reward,part_d_cai,"
                   "overall_mean,overall_reward,overall_cai,hold_harmless,explanation");
        printf("\n");
    }
    int first = 1;
    for (size_t i = 0; i < t->n; i++) {
        const struct stars_table_contract *c = &t->c[i];
        if (!c->in_summary) continue;
        struct stars_contract_input in;
        struct stars_result r;
        char err[SG_ERRLEN];
        stars_table_input(t, c, 1, 0, &in);
        (void)stars_table_infer_isnp(t, c, &in);
        if (stars_rate(p, &in, NULL, NULL, &r, err, sizeof err)) {
            fprintf(stderr, "stargap stars: contract %s: %s\n", c->id, err);
            return CLI_FAIL;
        }
        char a[16], b[16], d[16];
        fmt_rating(a, sizeof a, &r.part_c);
        fmt_rating(b, sizeof b, &r.part_d);
        fmt_rating(d, sizeof d, &r.overall);
        if (json) {
            printf("%s\n {\"contract_id\":\"%s\",\"contract_type\":\"%s\",\"part_c\":%s,"
                   "\"part_d\":%s,\"overall\":%s",
                   first ? "" : ",", c->id, contract_type(c), a[0] ? a : "null", b[0] ? b : "null",
                   d[0] ? d : "null");
            if (o->explain) {
                const struct stars_summary *s[3] = {&r.part_c, &r.part_d, &r.overall};
                const char *nm[3] = {"part_c", "part_d", "overall"};
                for (int k = 0; k < 3; k++)
                    if (s[k]->rated)
                        printf(",\"%s_mean\":%.6f,\"%s_reward\":%.1f,\"%s_cai\":%.6f", nm[k],
                               s[k]->mean, nm[k], s[k]->reward, nm[k], s[k]->cai);
                printf(",\"hold_harmless\":%s,\"explanation\":\"%s\"",
                       r.hold_harmless ? "true" : "false", r.explanation);
            }
            printf("}");
        } else {
            printf("%s,%s,%s,%s,%s", c->id, contract_type(c), a, b, d);
            if (o->explain) {
                const struct stars_summary *s[3] = {&r.part_c, &r.part_d, &r.overall};
                for (int k = 0; k < 3; k++) {
                    if (s[k]->rated)
                        printf(",%.6f,%.1f,%.6f", s[k]->mean, s[k]->reward, s[k]->cai);
                    else
                        printf(",,,");
                }
                printf(",%s,\"%s\"", r.hold_harmless ? "yes" : "no", r.explanation);
            }
            printf("\n");
        }
        first = 0;
    }
    if (json) printf("\n]\n");
    return CLI_OK;
}

static const struct stars_cut *cut_for(const struct stars_table *t, size_t m,
                                       const struct stars_table_contract *c)
{
    int pdp = t->p->measures[m].part == 'D' && stars_table_class(c) == STARS_CLASS_PDP;
    return &t->cuts[2 * m + pdp];
}

static int cmd_measure_stars(const struct stars_params *p, struct stars_table *t)
{
    printf("contract_id,measure_id,code,score,star\n");
    for (size_t i = 0; i < t->n; i++) {
        const struct stars_table_contract *c = &t->c[i];
        for (size_t m = 0; m < p->nmeasures; m++) {
            const struct stars_measure_def *md = &p->measures[m];
            const struct stars_cut *cut = cut_for(t, m, c);
            if (md->method != STARS_METHOD_CLUSTER || !c->has_score[m] || !cut->valid) continue;
            printf("%s,%s,%s,%.*f,%d\n", c->id, md->cms_id, md->code, md->precision,
                   stars_round_half_up(c->score[m], md->precision),
                   stars_score_star(md, cut, c->score[m]));
        }
    }
    return CLI_OK;
}

/* Collects the scores of measure m for plan group pdp (Part D) or all MA contracts (Part C). */
static size_t collect(const struct stars_table *t, size_t m, int pdp, double *out)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct stars_table_contract *c = &t->c[i];
        if (!c->has_score[m]) continue;
        double ex = t->p->cut_disaster_exclusion;
        if (ex > 0 && ((isfinite(c->disaster[0]) && c->disaster[0] >= ex) ||
                       (isfinite(c->disaster[1]) && c->disaster[1] >= ex)))
            continue; /* the "60 percent rule" (through the 2025 Star Ratings) */
        int is_pdp = stars_table_class(c) == STARS_CLASS_PDP;
        if (t->p->measures[m].part == 'C' ? is_pdp : is_pdp != pdp) continue;
        out[n++] = c->score[m];
    }
    return n;
}

static void print_cut_row(const struct stars_measure_def *md, const char *plan,
                          const struct stars_cut *cut)
{
    printf("%s,%s,%s", md->cms_id, md->code, plan);
    for (int k = 0; k < 4; k++) {
        if (cut->present[k])
            printf(",%.*f", md->precision, cut->t[k]);
        else
            printf(",");
    }
    printf("\n");
}

/* Computes the cut points of measure m for plan group pdp from t's scores, with guardrails
 * against the prior table pt (may be NULL). Returns 0 or -1 (message printed). */
static int compute_cut(const struct sopts *o, const struct stars_table *t, size_t m, int pdp,
                       const struct stars_params *pp, const struct stars_table *pt, double *buf,
                       double *pbuf, struct stars_cut *cut)
{
    const struct stars_measure_def *md = &t->p->measures[m];
    size_t n = collect(t, m, pdp, buf);
    const struct stars_cut *prior = NULL;
    double range = 0;
    if (pt) {
        int pm = stars_find_code(pp, md->code);
        if (pm >= 0) {
            prior = &pt->cuts[2 * pm + pdp];
            size_t pn = collect(pt, (size_t)pm, pdp, pbuf);
            double lo, hi;
            range = stars_restricted_range(&pp->measures[pm], pbuf, pn, &lo, &hi);
        }
    }
    char err[SG_ERRLEN];
    if (stars_cutpoints(md, buf, n, prior, range, &o->cut, cut, err, sizeof err)) {
        fprintf(stderr, "stargap stars: cutpoints %s %s: %s\n", md->cms_id,
                md->part == 'C' ? "MA" : (pdp ? "PDP" : "MA-PD"), err);
        return -1;
    }
    return 0;
}

/* Loads the prior year's parameters and data table for guardrails. */
static int load_prior(struct cli_ctx *ctx, const struct sopts *o, struct stars_params *pp,
                      struct stars_table *pt)
{
    if (load_params(ctx, o, o->year - 1, pp)) return -1;
    if (load_table(o->prior, pp, pt, (1u << STARS_FILE_CUT_C) | (1u << STARS_FILE_CUT_D))) {
        stars_table_fini(pt);
        return -1;
    }
    return 0;
}

static int cmd_cutpoints(struct cli_ctx *ctx, struct sopts *o, const struct stars_params *p,
                         struct stars_table *t)
{
    struct stars_params *pp = malloc(sizeof *pp);
    struct stars_table *pt = malloc(sizeof *pt);
    int have_prior = 0, rc = CLI_FAIL;
    double *buf = malloc((t->n + 1) * sizeof *buf), *pbuf = NULL;
    if (!buf || !pp || !pt) goto out;
    if (o->prior) {
        if (load_prior(ctx, o, pp, pt)) goto out;
        have_prior = 1;
        pbuf = malloc((pt->n + 1) * sizeof *pbuf);
        if (!pbuf) goto out;
    }
    printf("measure_id,code,plan_type,star2,star3,star4,star5\n");
    for (size_t m = 0; m < p->nmeasures; m++) {
        const struct stars_measure_def *md = &p->measures[m];
        /* CAHPS stars come from percentiles and significance tests; improvement scores are not
         * published */
        if (md->method != STARS_METHOD_CLUSTER) continue;
        for (int pdp = 0; pdp < (md->part == 'D' ? 2 : 1); pdp++) {
            struct stars_cut cut;
            if (compute_cut(o, t, m, pdp, pp, have_prior ? pt : NULL, buf, pbuf, &cut)) continue;
            print_cut_row(md, md->part == 'C' ? "MA" : (pdp ? "PDP" : "MA-PD"), &cut);
        }
    }
    rc = CLI_OK;
out:
    if (have_prior) stars_table_fini(pt);
    free(pp);
    free(pt);
    free(buf);
    free(pbuf);
    return rc;
}

static int disaster_affected(const struct stars_params *p, const struct stars_table_contract *c)
{
    for (int k = 0; k < 2; k++)
        if (isfinite(c->disaster[k]) && c->disaster[k] >= p->disaster_threshold) return 1;
    return 0;
}

/* Last year's published star of measure `code` for contract `id` in the prior table, 0 if none. */
static int prior_star(const struct stars_table *pt, const char *id, const char *code)
{
    int pm = stars_find_code(pt->p, code);
    if (pm < 0) return 0;
    for (size_t i = 0; i < pt->n; i++)
        if (!strcmp(pt->c[i].id, id)) return pt->c[i].star[pm];
    return 0;
}

static void pct_line(const char *what, long match, long total)
{
    printf("agreement,%s,%ld,%ld,%.2f%%\n", what, match, total,
           total ? 100.0 * (double)match / (double)total : 100.0);
}

static int cmd_compare(struct cli_ctx *ctx, struct sopts *o, const struct stars_params *p,
                       struct stars_table *t)
{
    long match[5] = {0}, total[5] = {0}, extra = 0, isnp = 0;
    const char *names[5] = {"part_c", "part_d_mapd", "part_d_pdp", "overall", "part_d"};
    /* mismatches are collected and printed after the agreement lines */
    char *lines = NULL;
    size_t llen = 0;
    struct stars_params *pp = malloc(sizeof *pp);
    struct stars_table *pt = malloc(sizeof *pt);
    int have_prior = 0;
    if (!pp || !pt || (o->prior && load_prior(ctx, o, pp, pt))) {
        free(pp);
        free(pt);
        return CLI_FAIL;
    }
    have_prior = o->prior != NULL;
    FILE *mm = open_memstream(&lines, &llen);
    if (!mm) {
        if (have_prior) stars_table_fini(pt);
        free(pp);
        free(pt);
        return CLI_FAIL;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct stars_table_contract *c = &t->c[i];
        if (!c->in_summary) continue;
        struct stars_contract_input in;
        struct stars_result r;
        char err[SG_ERRLEN];
        stars_table_input(t, c, 1, 0, &in);
        if (stars_table_infer_isnp(t, c, &in)) {
            isnp++;
            fprintf(mm,
                    "note,%s,class,,,\"treated as I-SNP-only: CMS rated it with fewer measures "
                    "than the CCP-with-SNP minimum\"\n",
                    c->id);
        }
        if (stars_rate(p, &in, NULL, NULL, &r, err, sizeof err)) {
            fprintf(stderr, "stargap stars: contract %s: %s\n", c->id, err);
            fclose(mm);
            free(lines);
            if (have_prior) stars_table_fini(pt);
            free(pp);
            free(pt);
            return CLI_FAIL;
        }
        const struct stars_summary *s[3] = {&r.part_c, &r.part_d, &r.overall};
        int pdp = in.cls == STARS_CLASS_PDP;
        for (int k = 0; k < 3; k++) {
            double pub;
            int is_num = stars_table_rating(c->published[k], &pub);
            int slot = k == 0 ? 0 : k == 2 ? 3 : (pdp ? 2 : 1);
            const char *label = k == 0 ? "part_c" : k == 1 ? "part_d" : "overall";
            if (!is_num) {
                if (s[k]->rated) {
                    extra++;
                    fprintf(
                        mm,
                        "extra,%s,%s,\"%s\",%.1f,rated by stargap but CMS published no rating\n",
                        c->id, label, c->published[k], s[k]->rating);
                }
                continue;
            }
            total[slot]++;
            if (k == 1) total[4]++;
            if (s[k]->rated && fabs(s[k]->rating - pub) < 1e-9) {
                match[slot]++;
                if (k == 1) match[4]++;
                continue;
            }
            char why[400];
            if (!s[k]->rated && k == 2 && (!r.part_c.rated || !r.part_d.rated))
                snprintf(why, sizeof why, "not rated by stargap: no %s summary",
                         r.part_c.rated ? "Part D" : "Part C");
            else if (!s[k]->rated)
                snprintf(why, sizeof why,
                         "not rated by stargap: %d of the %d required measures rated",
                         s[k]->n_counted, s[k]->n_required);
            else
                snprintf(why, sizeof why,
                         "%s (mean %.6f, variance %.6f, reward %.1f, CAI %.6f, raw %.6f%s)%s",
                         pub > s[k]->rating ? "published higher" : "published lower", s[k]->mean,
                         s[k]->variance, s[k]->reward, s[k]->cai, s[k]->raw,
                         s[k]->with_improvement ? "" : ", without improvement",
                         t->recalculated
                             ? "; the data table's Notes say CMS recalculated these ratings and "
                               "kept the higher of the original and the recalculated rating: the "
                               "published measure stars and the Technical Notes' reward "
                               "thresholds do not come from one run"
                             : "");
            char comp[16];
            fmt_rating(comp, sizeof comp, s[k]);
            fprintf(mm, "mismatch,%s,%s,%.1f,%s,\"%s\"\n", c->id, label, pub, comp, why);
        }
    }
    /* measure stars from scores and published cut points (clustered measures only: CAHPS cut
     * points are base groups, improvement scores are not published) */
    long ms_match[2] = {0}, ms_total[2] = {0};
    int have_ms = t->have[STARS_FILE_MEASURE_DATA] && t->have[STARS_FILE_CUT_C];
    if (have_ms) {
        struct stars_result *res = malloc(sizeof *res);
        for (size_t i = 0; res && i < t->n; i++) {
            const struct stars_table_contract *c = &t->c[i];
            int dis = disaster_affected(p, c);
            struct stars_contract_input in;
            char err[SG_ERRLEN];
            stars_table_input(t, c, 0, 1, &in);
            for (size_t m = 0; have_prior && m < p->nmeasures; m++)
                in.m[m].prior_star = prior_star(pt, c->id, p->measures[m].code);
            if (stars_rate(p, &in, t->cuts, NULL, res, err, sizeof err)) {
                fprintf(stderr, "stargap stars: contract %s: %s\n", c->id, err);
                continue;
            }
            for (size_t m = 0; m < p->nmeasures; m++) {
                const struct stars_measure_def *md = &p->measures[m];
                const struct stars_cut *cut = cut_for(t, m, c);
                if (md->method != STARS_METHOD_CLUSTER || !c->has_score[m] || !c->star[m] ||
                    !cut->valid || !res->m[m].star)
                    continue;
                int s = res->m[m].star;
                ms_total[dis]++;
                if (s == c->star[m]) {
                    ms_match[dis]++;
                } else if (!dis) {
                    fprintf(mm, "measure_mismatch,%s,%s,%s,%d,%d,\"score %.*f\"\n", c->id,
                            md->cms_id, md->code, c->star[m], s, md->precision,
                            stars_round_half_up(c->score[m], md->precision));
                }
            }
        }
        free(res);
    }
    /* cut points computed from the scores against the published ones (informational: CMS's fold
     * assignment cannot be reproduced, see docs/STARS.md) */
    long cp_exact = 0, cp_near = 0, cp_total = 0;
    if (have_ms) {
        double *buf = malloc((t->n + 1) * sizeof *buf);
        double *pbuf = have_prior ? malloc((pt->n + 1) * sizeof *pbuf) : NULL;
        int ok = buf && (!have_prior || pbuf);
        for (size_t m = 0; ok && m < p->nmeasures; m++) {
            const struct stars_measure_def *md = &p->measures[m];
            if (md->method != STARS_METHOD_CLUSTER) continue;
            for (int pdp = 0; pdp < (md->part == 'D' ? 2 : 1); pdp++) {
                struct stars_cut cut;
                const struct stars_cut *pub = &t->cuts[2 * m + pdp];
                if (!pub->valid ||
                    compute_cut(o, t, m, pdp, pp, have_prior ? pt : NULL, buf, pbuf, &cut))
                    continue;
                double unit = pow(10.0, -md->precision);
                for (int k = 0; k < 4; k++) {
                    if (!pub->present[k] || !cut.present[k]) continue;
                    cp_total++;
                    double d = fabs(pub->t[k] - cut.t[k]);
                    if (d < unit / 2) cp_exact++;
                    if (d < unit * 1.5) cp_near++;
                }
            }
        }
        free(buf);
        free(pbuf);
        if (!ok) {
            fclose(mm);
            free(lines);
            if (have_prior) stars_table_fini(pt);
            free(pp);
            free(pt);
            return CLI_FAIL;
        }
    }
    if (have_prior) stars_table_fini(pt);
    free(pp);
    free(pt);
    fclose(mm);
    printf("star_year,%d\n", p->star_year);
    for (int k = 0; k < 5; k++)
        pct_line(names[k], match[k], total[k]);
    printf("extra_ratings,%ld\n", extra);
    printf("isnp_inferred,%ld\n", isnp);
    if (have_ms) {
        pct_line("measure_stars_non_disaster", ms_match[0], ms_total[0]);
        pct_line(o->prior ? "measure_stars_disaster_affected_with_prior_year"
                          : "measure_stars_disaster_affected_no_prior_year",
                 ms_match[1], ms_total[1]);
        pct_line(o->prior ? "cutpoints_exact_guardrailed" : "cutpoints_exact_no_prior", cp_exact,
                 cp_total);
        pct_line(o->prior ? "cutpoints_within_1_guardrailed" : "cutpoints_within_1_no_prior",
                 cp_near, cp_total);
    }
    if (lines && llen) fputs(lines, stdout);
    free(lines);
    return CLI_OK;
}

int cli_stars_run(struct cli_ctx *ctx, int argc, char **argv)
{
    struct sopts o = {0};
    stars_cut_options_default(&o.cut);
    if (argc < 2)
        return cli_usage_error("stars",
                               "missing subcommand (rate, measure-stars, cutpoints, compare)");
    o.sub = argv[1];
    if (strcmp(o.sub, "rate") && strcmp(o.sub, "measure-stars") && strcmp(o.sub, "cutpoints") &&
        strcmp(o.sub, "compare"))
        return cli_usage_error("stars", "unknown subcommand '%s'", o.sub);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--explain"))
            o.explain = 1;
        else if (!strcmp(a, "--no-outlier-deletion"))
            o.cut.outlier_deletion = 0;
        else if (!strcmp(a, "--no-guardrails"))
            o.cut.guardrails = 0;
        else if (!strcmp(a, "--star-year") || !strcmp(a, "--data-table") ||
                 !strcmp(a, "--params") || !strcmp(a, "--prior") || !strcmp(a, "--folds") ||
                 !strcmp(a, "--format")) {
            if (!v) return cli_usage_error("stars", "option %s needs a value", a);
            i++;
            if (!strcmp(a, "--star-year")) {
                if (cli_parse_long(v, &o.year) || o.year < 2008 || o.year > 2100)
                    return cli_usage_error("stars", "--star-year: '%s' is not a star year", v);
            } else if (!strcmp(a, "--folds")) {
                long f;
                if (cli_parse_long(v, &f) || f < 1 || f > 100)
                    return cli_usage_error("stars", "--folds: '%s' is not 1..100", v);
                o.cut.folds = (int)f;
            } else if (!strcmp(a, "--data-table"))
                o.dir = v;
            else if (!strcmp(a, "--params"))
                o.params = v;
            else if (!strcmp(a, "--prior"))
                o.prior = v;
            else {
                if (strcmp(v, "csv") && strcmp(v, "json"))
                    return cli_usage_error("stars", "--format: '%s' is not csv or json", v);
                o.format = v;
            }
        } else {
            return cli_usage_error("stars", "unknown option '%s'", a);
        }
    }
    if (!o.year) return cli_usage_error("stars", "--star-year is required");
    if (!o.dir) return cli_usage_error("stars", "--data-table is required");

    struct stars_params *p = malloc(sizeof *p);
    struct stars_table *t = malloc(sizeof *t);
    int rc = CLI_FAIL;
    if (!p || !t) goto out;
    if (load_params(ctx, &o, o.year, p)) goto out;
    unsigned need =
        (1u << STARS_FILE_MEASURE_STARS) | (1u << STARS_FILE_SUMMARY) | (1u << STARS_FILE_CAI);
    if (!strcmp(o.sub, "measure-stars"))
        need |=
            (1u << STARS_FILE_MEASURE_DATA) | (1u << STARS_FILE_CUT_C) | (1u << STARS_FILE_CUT_D);
    if (!strcmp(o.sub, "cutpoints")) need |= (1u << STARS_FILE_MEASURE_DATA);
    if (load_table(o.dir, p, t, need)) {
        stars_table_fini(t);
        goto out;
    }
    qsort(t->c, t->n, sizeof *t->c, cmp_contract);
    if (!strcmp(o.sub, "rate"))
        rc = cmd_rate(&o, p, t);
    else if (!strcmp(o.sub, "measure-stars"))
        rc = cmd_measure_stars(p, t);
    else if (!strcmp(o.sub, "cutpoints"))
        rc = cmd_cutpoints(ctx, &o, p, t);
    else
        rc = cmd_compare(ctx, &o, p, t);
    stars_table_fini(t);
out:
    free(p);
    free(t);
    return rc;
}
