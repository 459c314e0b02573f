/* table.c: the layouts of CMS's Star Ratings Data Table CSVs (see table.h and the layout notes
 * in docs/STARS.md). Header rows are recognised by their text, not only by position, so a file of
 * the wrong kind or a shifted layout is reported instead of being read as data. */
#include "stars/table.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[STARS_NFILE] = {
    "Measure Stars",     "Measure Data",      "Summary", "CAI",
    "Part C Cut Points", "Part D Cut Points", "Notes"};

void stars_table_init(struct stars_table *t, const struct stars_params *p)
{
    memset(t, 0, sizeof *t);
    t->p = p;
    for (int k = 0; k < STARS_NFILE; k++)
        for (int i = 0; i < STARS_TABLE_MAX_COLS; i++)
            t->col_measure[k][i] = -1;
    for (int i = 0; i < 8; i++)
        t->col_sum[i] = t->col_cai[i] = -1;
}

void stars_table_fini(struct stars_table *t)
{
    free(t->c);
    t->c = NULL;
    t->n = t->cap = 0;
}

/* Copies s without surrounding spaces into dst (cap bytes, truncating). */
static void copy_trim(char *dst, size_t cap, const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static int cell_is(const char *cell, const char *want)
{
    char b[128];
    copy_trim(b, sizeof b, cell);
    return !strcasecmp(b, want);
}

static struct stars_table_contract *find_or_add(struct stars_table *t, const char *id,
                                                int *err_nomem)
{
    *err_nomem = 0;
    for (size_t i = t->n; i-- > 0;)
        if (!strcmp(t->c[i].id, id)) return &t->c[i];
    if (t->n == STARS_TABLE_MAX_CONTRACTS) return NULL;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct stars_table_contract *c = realloc(t->c, cap * sizeof *c);
        if (!c) {
            *err_nomem = 1;
            return NULL;
        }
        t->c = c;
        t->cap = cap;
    }
    struct stars_table_contract *c = &t->c[t->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->disaster[0] = c->disaster[1] = NAN;
    return c;
}

/* Maps the measure-name header row (first measure column `from`) to measure indexes. */
static int map_measures(struct stars_table *t, enum stars_file_kind kind, const char *const *f,
                        size_t nf, size_t from, const char *file, long line, char *err,
                        size_t errlen)
{
    int seen[STARS_MAX_MEASURES] = {0};
    if (nf > STARS_TABLE_MAX_COLS)
        return sg_errf(err, errlen, SG_ETOOBIG, "%s:%ld: more than %d columns", file, line,
                       STARS_TABLE_MAX_COLS);
    for (size_t j = from; j < nf; j++) {
        char h[STARS_NAME_LEN + 16];
        copy_trim(h, sizeof h, f[j]);
        if (!h[0]) continue;
        char part = h[0];
        if ((part != 'C' && part != 'D') || !isdigit((unsigned char)h[1]) || !strchr(h, ':'))
            return sg_errf(
                err, errlen, SG_EPARSE,
                "%s:%ld: column %zu: expected a measure header like 'C01: Name', got '%s'", file,
                line, j + 1, h);
        int m = stars_find_name(t->p, part, h);
        if (m < 0)
            return sg_errf(err, errlen, SG_EPARSE,
                           "%s:%ld: column %zu: measure '%s' is not in the %d year parameters",
                           file, line, j + 1, h, t->p->star_year);
        if (seen[m])
            return sg_errf(err, errlen, SG_EPARSE, "%s:%ld: column %zu: measure '%s' appears twice",
                           file, line, j + 1, h);
        seen[m] = 1;
        t->col_measure[kind][j] = m;
    }
    return SG_OK;
}

static int find_col(const char *const *f, size_t nf, const char *needle)
{
    for (size_t j = 0; j < nf; j++)
        if (strcasestr(f[j], needle)) return (int)j;
    return -1;
}

static int parse_fac(const char *cell, int *out)
{
    char b[32];
    copy_trim(b, sizeof b, cell);
    if (!b[0] || !strcasecmp(b, "N/A") || !strcasecmp(b, "NA")) {
        *out = 0;
        return SG_OK;
    }
    char *end;
    long v = strtol(b, &end, 10);
    if (*end || v < 1 || v > STARS_MAX_FAC) return SG_EPARSE;
    *out = (int)v;
    return SG_OK;
}

int stars_table_rating(const char *cell, double *out)
{
    char b[48];
    copy_trim(b, sizeof b, cell);
    char *end;
    double v = strtod(b, &end);
    if (end == b || *end || v < 1 || v > 5) return 0;
    *out = v;
    return 1;
}

static int feed_measures(struct stars_table *t, enum stars_file_kind kind, long rec, long line,
                         const char *const *f, size_t nf, const char *file, char *err,
                         size_t errlen)
{
    if (rec == 2) {
        if (nf < 6 || !cell_is(f[0], "CONTRACT_ID"))
            return sg_errf(
                err, errlen, SG_EPARSE,
                "%s:%ld: column 1: unknown layout: expected 'CONTRACT_ID' (a CMS %s file "
                "has 4 header rows)",
                file, line, kind_names[kind]);
        return SG_OK;
    }
    if (rec == 3) {
        int rc = map_measures(t, kind, f, nf, 5, file, line, err, errlen);
        if (!rc) t->header_ok[kind] = 1;
        return rc;
    }
    if (rec < 5) return SG_OK;
    if (!t->header_ok[kind])
        return sg_errf(err, errlen, SG_EPARSE, "%s:%ld: data before the measure header row", file,
                       line);
    char id[16];
    copy_trim(id, sizeof id, f[0]);
    if (!id[0]) return SG_OK; /* trailing blank rows */
    int nomem;
    struct stars_table_contract *c = find_or_add(t, id, &nomem);
    if (!c)
        return sg_errf(err, errlen, nomem ? SG_ENOMEM : SG_ETOOBIG, "%s:%ld: %s", file, line,
                       nomem ? "out of memory" : "too many contracts");
    if (nf > 1 && !c->org_type[0]) copy_trim(c->org_type, sizeof c->org_type, f[1]);
    for (size_t j = 5; j < nf && j < STARS_TABLE_MAX_COLS; j++) {
        int m = t->col_measure[kind][j];
        if (m < 0) continue;
        double v;
        int issue;
        int num = stars_parse_score(f[j], &v, &issue);
        if (num < 0)
            return sg_errf(err, errlen, SG_EPARSE,
                           "%s:%ld: column %zu (%s, contract %s): cannot read '%s' as a %s", file,
                           line, j + 1, t->p->measures[m].cms_id, id, f[j],
                           kind == STARS_FILE_MEASURE_STARS ? "star" : "score");
        if (issue) c->data_issue[m] = 1;
        if (!num && kind == STARS_FILE_MEASURE_STARS && strcasestr(f[j], "not required to report"))
            c->not_required[m] = 1;
        if (num <= 0) continue;
        if (kind == STARS_FILE_MEASURE_STARS) {
            if (v != floor(v) || v < 1 || v > 5)
                return sg_errf(err, errlen, SG_EPARSE,
                               "%s:%ld: column %zu (%s, contract %s): star '%s' is not 1..5", file,
                               line, j + 1, t->p->measures[m].cms_id, id, f[j]);
            c->star[m] = (int)v;
        } else {
            c->has_score[m] = 1;
            c->score[m] = v;
        }
    }
    return SG_OK;
}

static int feed_summary(struct stars_table *t, long rec, long line, const char *const *f, size_t nf,
                        const char *file, char *err, size_t errlen)
{
    if (rec == 2) {
        int id = find_col(f, nf, "Contract Number"), snp = -1, pc, pd, ov;
        for (size_t j = 0; j < nf; j++)
            if (cell_is(f[j], "SNP")) snp = (int)j;
        pc = find_col(f, nf, "Part C Summary");
        pd = find_col(f, nf, "Part D Summary");
        ov = find_col(f, nf, "Overall");
        int d1 = find_col(f, nf, "Disaster %");
        int d2 = d1 >= 0 ? find_col(f + d1 + 1, nf - (size_t)d1 - 1, "Disaster %") : -1;
        if (d2 >= 0) d2 += d1 + 1;
        if (id != 0 || pc < 0 || pd < 0 || ov < 0)
            return sg_errf(
                err, errlen, SG_EPARSE,
                "%s:%ld: unknown Summary layout: expected 'Contract Number' and the Part "
                "C Summary, Part D Summary and Overall columns",
                file, line);
        int *cs = t->col_sum;
        cs[0] = snp, cs[1] = d1, cs[2] = d2, cs[3] = pc, cs[4] = pd, cs[5] = ov;
        if (d1 >= 0) copy_trim(t->disaster_label[0], sizeof t->disaster_label[0], f[d1]);
        if (d2 >= 0) copy_trim(t->disaster_label[1], sizeof t->disaster_label[1], f[d2]);
        t->header_ok[STARS_FILE_SUMMARY] = 1;
        return SG_OK;
    }
    if (rec < 3) return SG_OK;
    if (!t->header_ok[STARS_FILE_SUMMARY])
        return sg_errf(err, errlen, SG_EPARSE, "%s:%ld: data before the header row", file, line);
    char id[16];
    copy_trim(id, sizeof id, f[0]);
    if (!id[0]) return SG_OK;
    int nomem;
    struct stars_table_contract *c = find_or_add(t, id, &nomem);
    if (!c)
        return sg_errf(err, errlen, nomem ? SG_ENOMEM : SG_ETOOBIG, "%s:%ld: %s", file, line,
                       nomem ? "out of memory" : "too many contracts");
    const int *cs = t->col_sum;
    c->in_summary = 1;
    if (nf > 1) copy_trim(c->org_type, sizeof c->org_type, f[1]);
    if (cs[0] >= 0 && (size_t)cs[0] < nf) c->snp = cell_is(f[cs[0]], "Yes");
    for (int k = 0; k < 2; k++) {
        int col = cs[1 + k];
        if (col < 0 || (size_t)col >= nf) continue;
        char b[32];
        copy_trim(b, sizeof b, f[col]);
        char *end;
        double v = strtod(b, &end);
        if (!b[0]) continue;
        if (*end || v < 0 || v > 100)
            return sg_errf(err, errlen, SG_EPARSE,
                           "%s:%ld: column %d (%s, contract %s): '%s' is not a percentage", file,
                           line, col + 1, t->disaster_label[k], id, b);
        c->disaster[k] = v;
    }
    for (int k = 0; k < 3; k++) {
        int col = cs[3 + k];
        if ((size_t)col < nf) copy_trim(c->published[k], sizeof c->published[k], f[col]);
    }
    return SG_OK;
}

static int feed_cai(struct stars_table *t, long rec, long line, const char *const *f, size_t nf,
                    const char *file, char *err, size_t errlen)
{
    int *cc = t->col_cai;
    if (rec == 2) {
        cc[0] = find_col(f, nf, "Puerto Rico");
        cc[1 + STARS_PART_C] = find_col(f, nf, "Part C FAC");
        cc[1 + STARS_PART_D_MAPD] = find_col(f, nf, "Part D MA-PD FAC");
        cc[1 + STARS_PART_D_PDP] = find_col(f, nf, "Part D PDP FAC");
        cc[1 + STARS_OVERALL] = find_col(f, nf, "Overall FAC");
        for (int k = 0; k < 5; k++)
            if (cc[k] < 0)
                return sg_errf(err, errlen, SG_EPARSE,
                               "%s:%ld: unknown CAI layout: expected Puerto Rico Only, Part C FAC, "
                               "Part D MA-PD FAC, Part D PDP FAC and Overall FAC columns",
                               file, line);
        t->header_ok[STARS_FILE_CAI] = 1;
        return SG_OK;
    }
    if (rec < 3) return SG_OK;
    if (!t->header_ok[STARS_FILE_CAI])
        return sg_errf(err, errlen, SG_EPARSE, "%s:%ld: data before the header row", file, line);
    char id[16];
    copy_trim(id, sizeof id, f[0]);
    if (!id[0]) return SG_OK;
    int nomem;
    struct stars_table_contract *c = find_or_add(t, id, &nomem);
    if (!c)
        return sg_errf(err, errlen, nomem ? SG_ENOMEM : SG_ETOOBIG, "%s:%ld: %s", file, line,
                       nomem ? "out of memory" : "too many contracts");
    if ((size_t)cc[0] < nf) c->pr_only = cell_is(f[cc[0]], "Yes");
    for (int r = 0; r < STARS_NRATING; r++) {
        int col = cc[1 + r];
        if ((size_t)col >= nf) continue;
        if (parse_fac(f[col], &c->fac[r]) || (size_t)c->fac[r] > t->p->nfac[r])
            return sg_errf(err, errlen, SG_EPARSE,
                           "%s:%ld: column %d (%s FAC, contract %s): '%s' is not a category 1..%zu",
                           file, line, col + 1, stars_rating_type_name(r), id, f[col],
                           t->p->nfac[r]);
    }
    return SG_OK;
}

static int feed_cut(struct stars_table *t, enum stars_file_kind kind, long rec, long line,
                    const char *const *f, size_t nf, const char *file, char *err, size_t errlen)
{
    size_t from = kind == STARS_FILE_CUT_C ? 1 : 2;
    if (rec == 3) {
        int rc = map_measures(t, kind, f, nf, from, file, line, err, errlen);
        if (!rc) t->header_ok[kind] = 1;
        return rc;
    }
    if (rec < 5) return SG_OK;
    if (!t->header_ok[kind])
        return sg_errf(err, errlen, SG_EPARSE, "%s:%ld: data before the measure header row", file,
                       line);
    const char *label = f[from - 1];
    char b[32];
    copy_trim(b, sizeof b, label);
    if (!b[0] && (kind == STARS_FILE_CUT_C || nf < 1)) return SG_OK;
    if (!b[0]) return SG_OK;
    int star = 0;
    if (strlen(b) == 5 && b[0] >= '1' && b[0] <= '5' && !strcasecmp(b + 1, "star"))
        star = b[0] - '0';
    if (!star)
        return sg_errf(err, errlen, SG_EPARSE,
                       "%s:%ld: column %zu: expected '1star'..'5star', got '%s'", file, line, from,
                       b);
    int pdp = 0;
    if (kind == STARS_FILE_CUT_D) {
        if (cell_is(f[0], "PDP"))
            pdp = 1;
        else if (!cell_is(f[0], "MA-PD"))
            return sg_errf(err, errlen, SG_EPARSE,
                           "%s:%ld: column 1: expected MA-PD or PDP, got '%s'", file, line, f[0]);
    }
    for (size_t j = from; j < nf && j < STARS_TABLE_MAX_COLS; j++) {
        int m = t->col_measure[kind][j];
        if (m < 0) continue;
        const struct stars_measure_def *md = &t->p->measures[m];
        struct stars_cut *cut = &t->cuts[2 * m + pdp];
        if (stars_parse_band(f[j], star, md->higher_is_better, cut))
            return sg_errf(err, errlen, SG_EPARSE,
                           "%s:%ld: column %zu (%s %s): cannot read the %d-star band '%s'", file,
                           line, j + 1, md->cms_id, md->code, star, f[j]);
        if (kind == STARS_FILE_CUT_C && md->part == 'D') t->cuts[2 * m + 1] = *cut;
    }
    return SG_OK;
}

int stars_table_feed(struct stars_table *t, enum stars_file_kind kind, long rec, long line,
                     const char *const *f, size_t nf, const char *file, char *err, size_t errlen)
{
    if ((unsigned)kind >= STARS_NFILE) return sg_errf(err, errlen, SG_EINVAL, "bad file kind");
    t->have[kind] = 1;
    switch (kind) {
    case STARS_FILE_MEASURE_STARS:
    case STARS_FILE_MEASURE_DATA:
        return feed_measures(t, kind, rec, line, f, nf, file, err, errlen);
    case STARS_FILE_SUMMARY: return feed_summary(t, rec, line, f, nf, file, err, errlen);
    case STARS_FILE_CAI: return feed_cai(t, rec, line, f, nf, file, err, errlen);
    case STARS_FILE_CUT_C:
    case STARS_FILE_CUT_D: return feed_cut(t, kind, rec, line, f, nf, file, err, errlen);
    case STARS_FILE_NOTES:
        for (size_t j = 0; j < nf; j++)
            if (strcasestr(f[j], "recalculated")) t->recalculated = 1;
        return SG_OK;
    default: return SG_EINVAL;
    }
}

int stars_table_check(const struct stars_table *t, char *err, size_t errlen)
{
    static const enum stars_file_kind need[] = {STARS_FILE_MEASURE_STARS, STARS_FILE_SUMMARY,
                                                STARS_FILE_CAI};
    for (size_t k = 0; k < sizeof need / sizeof *need; k++)
        if (!t->header_ok[need[k]])
            return sg_errf(err, errlen, SG_EPARSE, "data table: no usable %s file",
                           kind_names[need[k]]);
    for (size_t i = 0; i < t->p->nmeasures; i++) {
        int found = 0;
        for (int j = 0; j < STARS_TABLE_MAX_COLS && !found; j++)
            if (t->col_measure[STARS_FILE_MEASURE_STARS][j] == (int)i) found = 1;
        if (!found)
            return sg_errf(err, errlen, SG_EPARSE,
                           "data table: the Measure Stars file has no column for %s (%s: %s)",
                           t->p->measures[i].cms_id, t->p->measures[i].code,
                           t->p->measures[i].name);
    }
    return SG_OK;
}

enum stars_class stars_table_class(const struct stars_table_contract *c)
{
    if (strcasestr(c->org_type, "PDP")) return STARS_CLASS_PDP;
    if (strcasestr(c->org_type, "1876 Cost")) return STARS_CLASS_COST;
    if (strcasestr(c->org_type, "MSA")) return STARS_CLASS_MSA;
    if (strcasestr(c->org_type, "PFFS")) return STARS_CLASS_PFFS;
    return c->snp ? STARS_CLASS_CCP_SNP : STARS_CLASS_CCP;
}

int stars_table_offers_part_d(const struct stars_table_contract *c)
{
    if (stars_table_class(c) == STARS_CLASS_PDP) return 1;
    return c->published[1][0] && strcasecmp(c->published[1], "Not Applicable") != 0;
}

void stars_table_input(const struct stars_table *t, const struct stars_table_contract *c,
                       int use_stars, int use_scores, struct stars_contract_input *in)
{
    memset(in, 0, sizeof *in);
    in->cls = stars_table_class(c);
    in->offers_part_d = stars_table_offers_part_d(c);
    in->puerto_rico_only = c->pr_only;
    for (int r = 0; r < STARS_NRATING; r++)
        in->fac[r] = c->fac[r];
    in->disaster_pct = isfinite(c->disaster[1]) ? c->disaster[1] : 0;
    in->disaster_pct_prior = isfinite(c->disaster[0]) ? c->disaster[0] : 0;
    for (size_t i = 0; i < t->p->nmeasures; i++) {
        in->m[i].not_required = c->not_required[i];
        if (use_stars) in->m[i].star = c->star[i];
        if (use_scores) {
            in->m[i].has_score = c->has_score[i];
            in->m[i].score = c->score[i];
            in->m[i].data_issue = c->data_issue[i];
        }
    }
}

int stars_table_infer_isnp(const struct stars_table *t, const struct stars_table_contract *c,
                           struct stars_contract_input *in)
{
    if (!c->snp || in->cls != STARS_CLASS_CCP_SNP) return 0;
    struct stars_result *r = malloc(2 * sizeof *r);
    if (!r) return 0;
    int changed = 0;
    if (stars_rate(t->p, in, NULL, NULL, &r[0], NULL, 0) == SG_OK) {
        const struct stars_summary *s[3] = {&r[0].part_c, &r[0].part_d, &r[0].overall};
        int short_count = 0;
        for (int k = 0; k < 3; k++) {
            double v;
            if (stars_table_rating(c->published[k], &v) && !s[k]->rated && s[k]->n_required > 0 &&
                s[k]->n_counted < s[k]->n_required)
                short_count = 1;
        }
        if (short_count) {
            struct stars_contract_input alt = *in;
            alt.cls = STARS_CLASS_ISNP;
            if (stars_rate(t->p, &alt, NULL, NULL, &r[1], NULL, 0) == SG_OK &&
                (r[1].part_c.rated || r[1].part_d.rated)) {
                in->cls = STARS_CLASS_ISNP;
                changed = 1;
            }
        }
    }
    free(r);
    return changed;
}
