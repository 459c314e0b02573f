/* cli_stars.c: `stargap stars rate|measure-stars|cutpoints|compare`.
 *
 * Reads the year parameters (data/stars/YYYY.txt) and CMS's published Star Ratings Data Table
 * CSVs from a directory (exactly as CMS publishes them: cp1252 or UTF-8 with BOM, 4 header rows),
 * feeds them to the pure stars module and prints CSV (or JSON for `rate`). All file reading is
 * here; src/stars/ does no I/O. `rate` uses only inputs (an SNP contract's unpublished I-SNP-only
 * status comes from --isnp, else it is assumed CCP with SNP and said so); `compare` may use the
 * published answers to explain: it infers I-SNP-only contracts (reported as assumptions) and
 * classifies each mismatch, e.g. whether another reward factor alone reproduces it
 * (docs/STARS.md, "Why 2024 does not reach 100%"). */
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
    "  --explain             `rate`: add mean, reward factor, CAI, hold-harmless and class\n"
    "                        columns\n"
    "  --isnp ID[,ID...]     `rate`: these SNP contracts are I-SNP-only (CMS does not publish\n"
    "                        it; without this every SNP contract is rated as CCP with SNP and\n"
    "                        `rate` says where that assumption changes the result)\n"
    "  --prior DIR2          `cutpoints`, `compare`: prior year's data table, for guardrails\n"
    "                        (and, in `compare`, last year's stars for the disaster rule)\n"
    "  --folds N             `cutpoints`: resampling folds (default 10; 1 = none)\n"
    "  --no-outlier-deletion `cutpoints`: skip Tukey outer-fence deletion\n"
    "  --no-guardrails       `cutpoints`: skip guardrails\n";

struct sopts {
    const char *sub;
    long year;
    const char *dir, *params, *prior, *format, *isnp;
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

/* Index of contract `id` in t (sorted by id), or -1. */
static long find_contract(const struct stars_table *t, const char *id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->c[mid].id, id);
        if (!c) return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Parses the --isnp list (comma-separated contract ids) into flags[] (one per contract of t).
 * Every id must be an SNP contract of the data table. Returns 0 or -1 (message printed). */
static int parse_isnp(const char *list, const struct stars_table *t, unsigned char *flags)
{
    const char *s = list;
    while (*s) {
        size_t n = strcspn(s, ",");
        char id[16];
        while (n && s[n - 1] == ' ')
            n--;
        while (n && *s == ' ') {
            s++;
            n--;
        }
        if (!n || n >= sizeof id) {
            fprintf(stderr, "stargap stars: --isnp: '%.*s' is not a contract id\n", (int)n, s);
            return -1;
        }
        memcpy(id, s, n);
        id[n] = '\0';
        long i = find_contract(t, id);
        if (i < 0) {
            fprintf(stderr, "stargap stars: --isnp: contract %s is not in the data table\n", id);
            return -1;
        }
        if (stars_table_class(&t->c[i]) != STARS_CLASS_CCP_SNP) {
            fprintf(stderr,
                    "stargap stars: --isnp: contract %s is not an SNP contract (the Summary "
                    "file's SNP column says No or its organization type is %s)\n",
                    id, t->c[i].org_type);
            return -1;
        }
        flags[i] = 1;
        s += strcspn(s, ",");
        if (*s == ',') s++;
    }
    return 0;
}

static int same_rating(const struct stars_summary *a, const struct stars_summary *b)
{
    return a->rated == b->rated && (!a->rated || fabs(a->rating - b->rating) < 1e-9);
}

/* For an SNP contract rated under the assumed class CCP with SNP: writes into note what it would
 * get as I-SNP-only when that differs (the assumption matters), else an empty string. */
static void isnp_alternative(const struct stars_params *p, const struct stars_contract_input *in,
                             const struct stars_result *r, char *note, size_t n)
{
    note[0] = '\0';
    struct stars_contract_input *alt = malloc(sizeof *alt);
    struct stars_result *ra = malloc(sizeof *ra);
    if (alt && ra) {
        *alt = *in;
        alt->cls = STARS_CLASS_ISNP;
        if (stars_rate(p, alt, NULL, NULL, ra, NULL, 0) == SG_OK &&
            (!same_rating(&r->part_c, &ra->part_c) || !same_rating(&r->part_d, &ra->part_d) ||
             !same_rating(&r->overall, &ra->overall))) {
            char a[16], b[16], d[16];
            fmt_rating(a, sizeof a, &ra->part_c);
            fmt_rating(b, sizeof b, &ra->part_d);
            fmt_rating(d, sizeof d, &ra->overall);
            snprintf(note, n,
                     "class assumed CCP with SNP (CMS does not publish which SNP contracts are "
                     "I-SNP-only); as I-SNP-only: part_c %s, part_d %s, overall %s",
                     a[0] ? a : "-", b[0] ? b : "-", d[0] ? d : "-");
        }
    }
    free(alt);
    free(ra);
}

static int cmd_rate(struct sopts *o, const struct stars_params *p, struct stars_table *t)
{
    int json = o->format && !strcmp(o->format, "json");
    unsigned char *isnp = calloc(t->n + 1, 1);
    if (!isnp) return CLI_FAIL;
    if (o->isnp && parse_isnp(o->isnp, t, isnp)) {
        free(isnp);
        return CLI_FAIL;
    }
    if (t->recalculated)
        fprintf(stderr,
                "stargap stars: note: the data table's Notes say CMS recalculated these ratings "
                "and kept the higher of the original and the recalculated rating; ratings are "
                "computed with the Technical Notes' reward thresholds (docs/STARS.md)\n");
    if (json)
        printf("[");
    else {
        printf("contract_id,contract_type,part_c,part_d,overall");
        if (o->explain)
            printf(",part_c_mean,part_c_reward,part_c_cai,part_d_mean,part_d_reward,part_d_cai,"
                   "overall_mean,overall_reward,overall_cai,hold_harmless,explanation,class,"
                   "class_note");
        printf("\n");
    }
    int first = 1;
    long assumed = 0, matters = 0;
    for (size_t i = 0; i < t->n; i++) {
        const struct stars_table_contract *c = &t->c[i];
        if (!c->in_summary) continue;
        struct stars_contract_input in;
        struct stars_result r;
        char err[SG_ERRLEN], note[256] = "";
        stars_table_input(t, c, 1, 0, &in);
        if (isnp[i]) in.cls = STARS_CLASS_ISNP;
        if (stars_rate(p, &in, NULL, NULL, &r, err, sizeof err)) {
            fprintf(stderr, "stargap stars: contract %s: %s\n", c->id, err);
            free(isnp);
            return CLI_FAIL;
        }
        int class_assumed = in.cls == STARS_CLASS_CCP_SNP;
        if (class_assumed) {
            assumed++;
            isnp_alternative(p, &in, &r, note, sizeof note);
            if (note[0]) {
                matters++;
                fprintf(stderr, "stargap stars: note: %s: %s (--isnp %s to rate it so)\n", c->id,
                        note, c->id);
            }
        }
        char a[16], b[16], d[16];
        fmt_rating(a, sizeof a, &r.part_c);
        fmt_rating(b, sizeof b, &r.part_d);
        fmt_rating(d, sizeof d, &r.overall);
        if (json) {
            printf("%s\n {\"contract_id\":\"%s\",\"contract_type\":\"%s\",\"part_c\":%s,"
                   "\"part_d\":%s,\"overall\":%s,\"class\":\"%s\",\"class_assumed\":%s",
                   first ? "" : ",", c->id, contract_type(c), a[0] ? a : "null", b[0] ? b : "null",
                   d[0] ? d : "null", stars_class_name(in.cls), class_assumed ? "true" : "false");
            if (note[0]) printf(",\"class_note\":\"%s\"", note);
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
                printf(",%s,\"%s\",%s%s,\"%s\"", r.hold_harmless ? "yes" : "no", r.explanation,
                       stars_class_name(in.cls), class_assumed ? " (assumed)" : "", note);
            }
            printf("\n");
        }
        first = 0;
    }
    if (json) printf("\n]\n");
    if (assumed)
        fprintf(stderr,
                "stargap stars: note: %ld SNP contracts rated as CCP with SNP (assumed: the data "
                "table does not say which are I-SNP-only); for %ld of them the result depends on "
                "it\n",
                assumed, matters);
    free(isnp);
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

/* ---- why a published rating differs: the reward factor alone? ----
 * A mismatch whose published value is what the same measure stars (same mean, variance and CAI)
 * give with another reward factor can only come from other reward-factor percentile thresholds
 * than the Technical Notes' (TN Tables 8-9): the thresholds of another calculation run. */

static const double reward_tab[3][3] = {{0, 0, 0}, {0.2, 0.1, 0}, {0.4, 0.3, 0}};

/* Mean category (0 below the 65th percentile, 1 relatively high, 2 high) and variance category
 * (0 low, 1 medium, 2 high) exactly as stars_reward_factor() decides them. */
static void reward_cats(const struct stars_reward_row *row, double mean, double var, int *mc,
                        int *vc)
{
    double mu = stars_round_half_up(mean, 6), v = stars_round_half_up(var, 6);
    *mc = mu >= row->mean_p85 - 1e-12 ? 2 : mu >= row->mean_p65 - 1e-12 ? 1 : 0;
    *vc = v < row->var_p30 - 1e-12 ? 0 : v < row->var_p70 - 1e-12 ? 1 : 2;
}

/* The TN thresholds that must move, and how far, to take a summary from reward categories
 * (mc0,vc0) to (mc,vc): returns the total distance and, when b is not NULL, appends a
 * description ("85th-percentile mean threshold above 4.054054 (TN 4.000000)"). */
static double threshold_moves(const struct stars_reward_row *row, const struct stars_summary *s,
                              int mc0, int vc0, int mc, int vc, const char *variant, char *b,
                              size_t n)
{
    double mu = stars_round_half_up(s->mean, 6), v = stars_round_half_up(s->variance, 6);
    /* thresholds indexed by the category boundary they open: mean 1 = p65, 2 = p85; variance
     * 1 = p30 (low/medium), 2 = p70 (medium/high) */
    const double mt[3] = {0, row->mean_p65, row->mean_p85};
    const double vt[3] = {0, row->var_p30, row->var_p70};
    const char *mn[3] = {"", "65th", "85th"}, *vn[3] = {"", "30th", "70th"};
    double d = 0;
    for (int j = 1; j <= 2; j++) {
        /* mean boundary j separates categories j-1 and j */
        int was = mc0 >= j, is = mc >= j;
        if (was != is) {
            d += fabs(mu - mt[j]);
            if (b) {
                size_t l = strlen(b);
                snprintf(b + l, n - l, "%s%s%s%s%s-percentile mean threshold %s %.6f (TN %.6f)",
                         l ? "; " : "", variant[0] ? "(" : "", variant, variant[0] ? ") " : "",
                         mn[j], was ? "above" : "at or below", mu, mt[j]);
            }
        }
        /* variance boundary j separates categories j-1 and j (higher = more variance) */
        was = vc0 >= j;
        is = vc >= j;
        if (was != is) {
            d += fabs(v - vt[j]);
            if (b) {
                size_t l = strlen(b);
                snprintf(b + l, n - l, "%s%s%s%s%s-percentile variance threshold %s %.6f (TN %.6f)",
                         l ? "; " : "", variant[0] ? "(" : "", variant, variant[0] ? ") " : "",
                         vn[j], was ? "above" : "at or below", v, vt[j]);
            }
        }
    }
    return d;
}

/* One mismatched rating, reduced to what the reward factor acts on. */
struct miss {
    int type;                  /* reward/CAI rating type (enum stars_rating_type) */
    int nv;                    /* 1; 2 for a highest rating: [0] without, [1] with improvement */
    struct stars_summary v[2]; /* the summaries the published value is compared with */
    double pub;                /* published rating */
    int mc[2], vc[2];          /* reward categories of the smallest explaining move */
};

static void make_miss(const struct stars_result *r, int k, int type, double pub, struct miss *m)
{
    const struct stars_summary *s[3] = {&r->part_c, &r->part_d, &r->overall};
    int is_highest = (r->highest == STARS_HIGHEST_OVERALL && k == 2) ||
                     (r->highest == STARS_HIGHEST_PART_C && k == 0) ||
                     (r->highest == STARS_HIGHEST_PART_D && k == 1);
    memset(m, 0, sizeof *m);
    m->type = type;
    m->pub = pub;
    m->nv = 1;
    m->v[0] = *s[k];
    if (is_highest && r->highest_without_improvement.rated && r->highest_with_improvement.rated &&
        r->highest_without_improvement.with_new == s[k]->with_new) {
        m->v[0] = r->highest_without_improvement;
        m->v[1] = r->highest_with_improvement;
        m->nv = 2;
    }
}

/* The rating of a miss with reward factors rw[] per variant (improvement hold-harmless redone). */
static double miss_rating(const struct stars_params *p, const struct miss *m, const double *rw)
{
    double rt[2];
    for (int j = 0; j < m->nv; j++)
        rt[j] = stars_half_star(m->v[j].mean + rw[j] + m->v[j].cai);
    if (m->nv == 1) return rt[0];
    return rt[0] >= p->hold_harmless_min - 1e-9 && rt[1] < rt[0] ? rt[0] : rt[1];
}

static const struct stars_reward_row *tn_row(const struct stars_params *p, const struct miss *m,
                                             int j)
{
    return &p->reward[m->v[j].with_improvement][m->v[j].with_new][m->type];
}

/* Looks for the smallest move of the TN reward thresholds (Tables 8-9) that turns the computed
 * rating into the published one, the measure stars and CAI staying as they are; keeps it in
 * m->mc/vc. Returns 1 and the description in b when one exists, else 0. */
static int reward_explains(const struct stars_params *p, struct miss *m, char *b, size_t n)
{
    int mc0[2] = {0, 0}, vc0[2] = {0, 0};
    for (int j = 0; j < m->nv; j++)
        reward_cats(tn_row(p, m, j), m->v[j].mean, m->v[j].variance, &mc0[j], &vc0[j]);
    double best = INFINITY;
    int ncomb = m->nv == 2 ? 81 : 9;
    for (int cmb = 0; cmb < ncomb; cmb++) {
        int mc[2] = {cmb % 3, m->nv == 2 ? (cmb / 9) % 3 : 0}, vc[2] = {(cmb / 3) % 3, cmb / 27};
        double rw[2] = {0, 0}, cost = 0;
        int same = 1;
        for (int j = 0; j < m->nv; j++) {
            rw[j] = reward_tab[mc[j]][vc[j]];
            cost += threshold_moves(tn_row(p, m, j), &m->v[j], mc0[j], vc0[j], mc[j], vc[j], "",
                                    NULL, 0);
            same = same && mc[j] == mc0[j] && vc[j] == vc0[j];
        }
        if (same || fabs(miss_rating(p, m, rw) - m->pub) > 1e-9 || cost >= best) continue;
        best = cost;
        for (int j = 0; j < m->nv; j++) {
            m->mc[j] = mc[j];
            m->vc[j] = vc[j];
        }
    }
    if (!isfinite(best)) return 0;
    b[0] = '\0';
    for (int j = 0; j < m->nv; j++)
        (void)threshold_moves(tn_row(p, m, j), &m->v[j], mc0[j], vc0[j], m->mc[j], m->vc[j],
                              m->nv == 1 ? ""
                              : j == 0   ? "without improvement"
                                         : "with improvement",
                              b, n);
    return 1;
}

/* Bounds on one row of reward thresholds implied by the explained misses: lo[i] (threshold must be
 * above, -INF = none) and hi[i] (at or below, +INF = none); i = mean_p65, mean_p85, var_p30,
 * var_p70. */
struct row_bounds {
    double lo[4], hi[4];
    int used;
};

static void bounds_init(struct row_bounds *b)
{
    for (int i = 0; i < 4; i++) {
        b->lo[i] = -INFINITY;
        b->hi[i] = INFINITY;
    }
    b->used = 0;
}

static void bounds_add(const struct stars_params *p, const struct miss *m, int j,
                       struct row_bounds *b)
{
    int mc0, vc0;
    reward_cats(tn_row(p, m, j), m->v[j].mean, m->v[j].variance, &mc0, &vc0);
    double mu = stars_round_half_up(m->v[j].mean, 6), v = stars_round_half_up(m->v[j].variance, 6);
    for (int k = 1; k <= 2; k++) {
        if ((mc0 >= k) != (m->mc[j] >= k) || (vc0 >= k) != (m->vc[j] >= k)) b->used = 1;
        if ((mc0 >= k) != (m->mc[j] >= k)) {
            if (mc0 >= k)
                b->lo[k - 1] = fmax(b->lo[k - 1], mu);
            else
                b->hi[k - 1] = fmin(b->hi[k - 1], mu);
        }
        if ((vc0 >= k) != (m->vc[j] >= k)) {
            if (vc0 >= k)
                b->lo[k + 1] = fmax(b->lo[k + 1], v);
            else
                b->hi[k + 1] = fmin(b->hi[k + 1], v);
        }
    }
}

/* The thresholds closest to the TN's row that satisfy the bounds (6 decimals), in out. Returns
 * 0, or -1 when the bounds contradict each other. */
static int bounds_row(const struct stars_reward_row *tn, const struct row_bounds *b,
                      struct stars_reward_row *out)
{
    double t[4] = {tn->mean_p65, tn->mean_p85, tn->var_p30, tn->var_p70};
    for (int i = 0; i < 4; i++) {
        if (t[i] <= b->lo[i]) t[i] = b->lo[i] + 1e-6;
        if (t[i] > b->hi[i]) t[i] = b->hi[i];
        if (t[i] <= b->lo[i]) return -1;
    }
    if (t[1] < t[0]) t[1] = t[0]; /* keep the percentiles ordered */
    if (t[3] < t[2]) t[3] = t[2];
    *out = *tn;
    out->mean_p65 = t[0];
    out->mean_p85 = t[1];
    out->var_p30 = t[2];
    out->var_p70 = t[3];
    return 0;
}

/* Number of the contract's clustered-measure stars that differ from what its score gives with the
 * published cut points, for a contract not affected by the disaster rule (0 when affected or when
 * scores and cut points are not published). */
static int off_cut_stars(const struct stars_params *p, const struct stars_table *t,
                         const struct stars_table_contract *c)
{
    int n = 0;
    for (int k = 0; k < 2; k++)
        if (isfinite(c->disaster[k]) && c->disaster[k] >= p->disaster_threshold) return 0;
    for (size_t m = 0; m < p->nmeasures; m++) {
        const struct stars_measure_def *md = &p->measures[m];
        int pdp = md->part == 'D' && stars_table_class(c) == STARS_CLASS_PDP;
        const struct stars_cut *cut = &t->cuts[2 * m + pdp];
        if (md->method != STARS_METHOD_CLUSTER || !c->has_score[m] || !c->star[m] ||
            c->data_issue[m] || !cut->valid)
            continue;
        if (stars_score_star(md, cut, c->score[m]) != c->star[m]) n++;
    }
    return n;
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
    /* mismatch classes: reward factor only (per slot), eligibility, other */
    long cls_reward[4] = {0}, cls_elig = 0, cls_other = 0;
    /* agreement of ratings stargap gives a reward factor of 0 / > 0, and of rewarded ratings of
     * contracts whose measure stars do not follow the published cut points */
    long rw_match[2] = {0}, rw_total[2] = {0}, orig_match = 0, orig_total = 0, orig_contracts = 0;
    int have_ms = t->have[STARS_FILE_MEASURE_DATA] && t->have[STARS_FILE_CUT_C];
    /* the mismatches the reward factor alone explains, for the one-run consistency check */
    struct miss *misses = NULL;
    size_t nmiss = 0, miss_cap = 0;
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
                    "note,%s,class,,,assumption,\"treated as I-SNP-only (assumed, inferred from "
                    "the published rating status: CMS does not publish the class): CMS rated it "
                    "with fewer measures than the CCP-with-SNP minimum\"\n",
                    c->id);
        }
        int orig = t->recalculated && have_ms && off_cut_stars(p, t, c) > 0;
        orig_contracts += orig;
        if (stars_rate(p, &in, NULL, NULL, &r, err, sizeof err)) {
            fprintf(stderr, "stargap stars: contract %s: %s\n", c->id, err);
            fclose(mm);
            free(lines);
            free(misses);
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
            int ok = s[k]->rated && fabs(s[k]->rating - pub) < 1e-9;
            if (s[k]->rated) {
                int rw = s[k]->reward > 0;
                rw_total[rw]++;
                rw_match[rw] += ok;
                if (rw && orig) {
                    orig_total++;
                    orig_match += ok;
                }
            }
            if (ok) {
                match[slot]++;
                if (k == 1) match[4]++;
                continue;
            }
            char why[600], how[400];
            int cls = 2; /* 0 reward, 1 eligibility, 2 other */
            static const char *const cls_name[3] = {"reward", "eligibility", "other"};
            int type = slot == 0   ? STARS_PART_C
                       : slot == 1 ? STARS_PART_D_MAPD
                       : slot == 2 ? STARS_PART_D_PDP
                                   : STARS_OVERALL;
            if (!s[k]->rated && k == 2 && (!r.part_c.rated || !r.part_d.rated)) {
                cls = 1;
                snprintf(why, sizeof why, "not rated by stargap: no %s summary",
                         r.part_c.rated ? "Part D" : "Part C");
            } else if (!s[k]->rated) {
                cls = 1;
                snprintf(why, sizeof why,
                         "not rated by stargap: %d of the %d required measures rated",
                         s[k]->n_counted, s[k]->n_required);
            } else {
                struct miss ms;
                make_miss(&r, k, type, pub, &ms);
                int rwd = reward_explains(p, &ms, how, sizeof how);
                if (rwd) {
                    cls = 0;
                    if (nmiss == miss_cap) {
                        size_t nc = miss_cap ? 2 * miss_cap : 64;
                        struct miss *nm = realloc(misses, nc * sizeof *nm);
                        if (nm) {
                            misses = nm;
                            miss_cap = nc;
                        }
                    }
                    if (nmiss < miss_cap) misses[nmiss++] = ms;
                }
                snprintf(why, sizeof why,
                         "%s (mean %.6f, variance %.6f, reward %.1f, CAI %.6f, raw %.6f%s)%s%s%s",
                         pub > s[k]->rating ? "published higher" : "published lower", s[k]->mean,
                         s[k]->variance, s[k]->reward, s[k]->cai, s[k]->raw,
                         s[k]->with_improvement ? "" : ", without improvement",
                         rwd ? "; the same stars and CAI give the published rating with another "
                               "reward factor if the run CMS published had the "
                             : "",
                         rwd ? how : "",
                         t->recalculated && rwd
                             ? "; the data table's Notes say CMS recalculated the ratings and "
                               "kept the higher of the original and the recalculated rating, and "
                               "the Technical Notes' reward thresholds (Tables 8-9) are those of "
                               "the original run"
                             : "");
            }
            if (cls == 0)
                cls_reward[slot]++;
            else if (cls == 1)
                cls_elig++;
            else
                cls_other++;
            char comp[16];
            fmt_rating(comp, sizeof comp, s[k]);
            fprintf(mm, "mismatch,%s,%s,%.1f,%s,%s,\"%s\"\n", c->id, label, pub, comp,
                    cls_name[cls], why);
        }
    }
    /* measure stars from scores and published cut points (clustered measures only: CAHPS cut
     * points are base groups, improvement scores are not published) */
    long ms_match[2] = {0}, ms_total[2] = {0};
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
            free(misses);
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
    printf("mismatch_classes,reward,%ld,eligibility,%ld,other,%ld\n",
           cls_reward[0] + cls_reward[1] + cls_reward[2] + cls_reward[3], cls_elig, cls_other);
    for (int k = 0; k < 4; k++)
        printf("mismatch_reward,%s,%ld\n", names[k], cls_reward[k]);
    pct_line("ratings_reward_0", rw_match[0], rw_total[0]);
    pct_line("ratings_reward_positive", rw_match[1], rw_total[1]);
    if (t->recalculated && have_ms) {
        printf("original_run_contracts,%ld\n", orig_contracts);
        pct_line("ratings_reward_positive_original_run_contracts", orig_match, orig_total);
    }
    if (nmiss) {
        /* one set of reward thresholds per rating type and variant, as close to the TN's as the
         * explained misses allow: does it reproduce all of them (one other run), or do they
         * contradict each other? */
        struct row_bounds bd[2][2][STARS_NRATING];
        struct stars_reward_row cand[2][2][STARS_NRATING];
        int bad[2][2][STARS_NRATING] = {{{0}}};
        for (int a1 = 0; a1 < 2; a1++)
            for (int a2 = 0; a2 < 2; a2++)
                for (int ty = 0; ty < STARS_NRATING; ty++)
                    bounds_init(&bd[a1][a2][ty]);
        for (size_t i = 0; i < nmiss; i++)
            for (int j = 0; j < misses[i].nv; j++) {
                const struct stars_summary *v = &misses[i].v[j];
                bounds_add(p, &misses[i], j, &bd[v->with_improvement][v->with_new][misses[i].type]);
            }
        for (int a1 = 0; a1 < 2; a1++)
            for (int a2 = 0; a2 < 2; a2++)
                for (int ty = 0; ty < STARS_NRATING; ty++) {
                    const struct stars_reward_row *tn = &p->reward[a1][a2][ty];
                    bad[a1][a2][ty] = bounds_row(tn, &bd[a1][a2][ty], &cand[a1][a2][ty]) != 0;
                    if (!bd[a1][a2][ty].used) continue;
                    const struct stars_reward_row *c = &cand[a1][a2][ty];
                    printf("one_run_thresholds,%s,%s_improvement,%s_new,%s,mean_p65,%.6f,"
                           "mean_p85,%.6f,var_p30,%.6f,var_p70,%.6f,tn,%.6f,%.6f,%.6f,%.6f\n",
                           stars_rating_type_name(ty), a1 ? "with" : "without",
                           a2 ? "with" : "without",
                           bad[a1][a2][ty] ? "contradictory" : "consistent", c->mean_p65,
                           c->mean_p85, c->var_p30, c->var_p70, tn->mean_p65, tn->mean_p85,
                           tn->var_p30, tn->var_p70);
                }
        long repro = 0;
        for (size_t i = 0; i < nmiss; i++) {
            const struct miss *m = &misses[i];
            double rw[2] = {0, 0};
            int ok = 1;
            for (int j = 0; j < m->nv; j++) {
                const struct stars_summary *v = &m->v[j];
                if (bad[v->with_improvement][v->with_new][m->type]) ok = 0;
                rw[j] = stars_reward_factor(&cand[v->with_improvement][v->with_new][m->type],
                                            v->mean, v->variance);
            }
            if (ok && fabs(miss_rating(p, m, rw) - m->pub) < 1e-9) repro++;
        }
        pct_line("reward_mismatches_reproduced_by_one_run", repro, (long)nmiss);
    }
    free(misses);
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
                 !strcmp(a, "--format") || !strcmp(a, "--isnp")) {
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
            else if (!strcmp(a, "--isnp"))
                o.isnp = v;
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
    if (o.isnp && strcmp(o.sub, "rate"))
        return cli_usage_error("stars", "--isnp is an option of `rate`");

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
