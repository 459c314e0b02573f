/* params.c: the parser of the star-year parameter files (data/stars/YYYY.txt) and the lookups
 * over the parsed measures.
 *
 * The format is line based: "[section]" starts a section; in [year] lines are "key = value";
 * table sections ([domains], [measures], [min_measures], [reward], [cai]) start with a
 * "columns = a | b | ..." line and then hold one row per line with |-separated cells in that
 * order. '#' starts a comment line; blank lines are ignored. Columns are named so a file written
 * for a later stargap with extra columns still parses; missing required columns are an error. */
#include "stars/stars.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_COLS 24

struct pctx {
    const char *name;
    int line;
    char *err;
    size_t errlen;
};

static const char *const rating_names[STARS_NRATING] = {"part_c", "part_d_mapd", "part_d_pdp",
                                                        "overall"};
static const char *const class_names[STARS_NCLASS] = {"cost", "ccp",  "ccp_snp", "isnp",
                                                      "msa",  "pffs", "pdp"};
static const char *const category_names[] = {
    "process", "outcome", "intermediate_outcome", "patient_experience", "access", "improvement"};

const char *stars_rating_type_name(int t)
{
    return t >= 0 && t < STARS_NRATING ? rating_names[t] : "?";
}

int stars_rating_type_parse(const char *s)
{
    for (int i = 0; i < STARS_NRATING; i++)
        if (!strcmp(s, rating_names[i])) return i;
    return -1;
}

const char *stars_category_name(enum stars_category c)
{
    return (unsigned)c < sizeof category_names / sizeof *category_names ? category_names[c] : "?";
}

const char *stars_class_name(enum stars_class c)
{
    return (unsigned)c < STARS_NCLASS ? class_names[c] : "?";
}

int stars_class_parse(const char *s)
{
    for (int i = 0; i < STARS_NCLASS; i++)
        if (!strcmp(s, class_names[i])) return i;
    return -1;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Splits s at '|' into at most max trimmed cells; returns the count or -1 when too many. */
static int split(char *s, char **cells, int max)
{
    int n = 0;
    for (;;) {
        char *bar = strchr(s, '|');
        if (bar) *bar = '\0';
        if (n == max) return -1;
        cells[n++] = trim(s);
        if (!bar) break;
        s = bar + 1;
    }
    return n;
}

static int perr(struct pctx *c, int code, const char *col, const char *what, const char *val)
{
    return sg_errf(c->err, c->errlen, code, "%s:%d: %s%s%s%s%s%s", c->name, c->line,
                   col ? "column " : "", col ? col : "", what, val ? " (got '" : "", val ? val : "",
                   val ? "')" : "");
}

static int parse_double(struct pctx *c, const char *col, const char *s, double *out)
{
    char *end;
    if (!*s) return perr(c, SG_EPARSE, col, ": empty number", NULL);
    double v = strtod(s, &end);
    if (*end || !isfinite(v)) return perr(c, SG_EPARSE, col, ": not a number", s);
    *out = v;
    return SG_OK;
}

static int parse_int(struct pctx *c, const char *col, const char *s, long lo, long hi, int *out)
{
    char *end;
    if (!*s) return perr(c, SG_EPARSE, col, ": empty integer", NULL);
    long v = strtol(s, &end, 10);
    if (*end) return perr(c, SG_EPARSE, col, ": not an integer", s);
    if (v < lo || v > hi) return perr(c, SG_ERANGE, col, ": out of range", s);
    *out = (int)v;
    return SG_OK;
}

static int copy_cell(struct pctx *c, const char *col, const char *s, char *dst, size_t cap)
{
    size_t n = strlen(s);
    if (!n) return perr(c, SG_EPARSE, col, ": empty", NULL);
    if (n >= cap) return perr(c, SG_ETOOBIG, col, ": too long", s);
    memcpy(dst, s, n + 1);
    return SG_OK;
}

enum section { SEC_NONE, SEC_YEAR, SEC_DOMAINS, SEC_MEASURES, SEC_MIN, SEC_REWARD, SEC_CAI };

struct table {
    int ncols;
    char names[MAX_COLS][32];
};

/* Position of column `want` in the table's columns line, or an error. */
static int col_index(struct pctx *c, const struct table *t, const char *want, int *idx)
{
    for (int i = 0; i < t->ncols; i++)
        if (!strcmp(t->names[i], want)) {
            *idx = i;
            return SG_OK;
        }
    return sg_errf(c->err, c->errlen, SG_EPARSE, "%s:%d: the columns line lacks column '%s'",
                   c->name, c->line, want);
}

#define COL(name)                                                                                  \
    int i_##name;                                                                                  \
    if ((rc = col_index(c, t, #name, &i_##name))) return rc;                                       \
    const char *name = cells[i_##name]

static int parse_flags(struct pctx *c, char *s, unsigned *out)
{
    static const struct {
        const char *n;
        unsigned f;
    } fl[] = {{"new", STARS_F_NEW},
              {"no_guardrail", STARS_F_NO_GUARDRAIL},
              {"snp_only", STARS_F_SNP_ONLY},
              {"overall_once", STARS_F_OVERALL_ONCE},
              {"pr_zero", STARS_F_PR_ZERO},
              {"no_disaster", STARS_F_NO_DISASTER},
              {"hos", STARS_F_HOS}};
    *out = 0;
    if (!strcmp(s, "-") || !*s) return SG_OK;
    for (char *tok = strtok(s, " "); tok; tok = strtok(NULL, " ")) {
        size_t k;
        for (k = 0; k < sizeof fl / sizeof *fl; k++)
            if (!strcmp(tok, fl[k].n)) break;
        if (k == sizeof fl / sizeof *fl) return perr(c, SG_EPARSE, "flags", ": unknown flag", tok);
        *out |= fl[k].f;
    }
    return SG_OK;
}

static int row_measure(struct pctx *c, struct stars_params *p, const struct table *t, char **cells)
{
    int rc;
    COL(cms_id);
    COL(code);
    COL(part);
    COL(domain);
    COL(category);
    COL(weight);
    COL(direction);
    COL(precision);
    COL(scale);
    COL(method);
    COL(member_level);
    COL(flags);
    COL(name);
    if (p->nmeasures == STARS_MAX_MEASURES)
        return perr(c, SG_ETOOBIG, NULL, "too many measures", NULL);
    struct stars_measure_def *m = &p->measures[p->nmeasures];
    memset(m, 0, sizeof *m);
    if ((rc = copy_cell(c, "cms_id", cms_id, m->cms_id, sizeof m->cms_id)) ||
        (rc = copy_cell(c, "code", code, m->code, sizeof m->code)) ||
        (rc = copy_cell(c, "name", name, m->name, sizeof m->name)) ||
        (rc = copy_cell(c, "domain", domain, m->domain, sizeof m->domain)))
        return rc;
    if (strcmp(part, "C") && strcmp(part, "D"))
        return perr(c, SG_EPARSE, "part", ": must be C or D", part);
    m->part = part[0];
    size_t k;
    for (k = 0; k < sizeof category_names / sizeof *category_names; k++)
        if (!strcmp(category, category_names[k])) break;
    if (k == sizeof category_names / sizeof *category_names)
        return perr(c, SG_EPARSE, "category", ": unknown weighting category", category);
    m->category = (enum stars_category)k;
    if ((rc = parse_double(c, "weight", weight, &m->weight))) return rc;
    if (m->weight < 0 || m->weight > 10)
        return perr(c, SG_ERANGE, "weight", ": out of range", weight);
    if (!strcmp(direction, "higher"))
        m->higher_is_better = 1;
    else if (!strcmp(direction, "lower"))
        m->higher_is_better = 0;
    else
        return perr(c, SG_EPARSE, "direction", ": must be higher or lower", direction);
    if ((rc = parse_int(c, "precision", precision, 0, 9, &m->precision))) return rc;
    if (!strcmp(scale, "pct"))
        m->scale = STARS_SCALE_PCT;
    else if (!strcmp(scale, "nonneg"))
        m->scale = STARS_SCALE_NONNEG;
    else if (!strcmp(scale, "signed"))
        m->scale = STARS_SCALE_SIGNED;
    else
        return perr(c, SG_EPARSE, "scale", ": must be pct, nonneg or signed", scale);
    if (!strcmp(method, "cluster"))
        m->method = STARS_METHOD_CLUSTER;
    else if (!strcmp(method, "cahps"))
        m->method = STARS_METHOD_CAHPS;
    else if (!strcmp(method, "improvement"))
        m->method = STARS_METHOD_IMPROVEMENT;
    else
        return perr(c, SG_EPARSE, "method", ": must be cluster, cahps or improvement", method);
    if (!strcmp(member_level, "yes"))
        m->member_level = 1;
    else if (!strcmp(member_level, "no"))
        m->member_level = 0;
    else
        return perr(c, SG_EPARSE, "member_level", ": must be yes or no", member_level);
    (void)flags;
    if ((rc = parse_flags(c, cells[i_flags], &m->flags))) return rc;
    if ((m->method == STARS_METHOD_IMPROVEMENT) != (m->category == STARS_CAT_IMPROVEMENT))
        return perr(c, SG_EPARSE, "method", ": improvement method needs improvement category",
                    method);
    for (size_t i = 0; i < p->nmeasures; i++) {
        if (!strcasecmp(p->measures[i].code, m->code))
            return perr(c, SG_ECONFLICT, "code", ": duplicate measure code", m->code);
        if (!strcmp(p->measures[i].cms_id, m->cms_id))
            return perr(c, SG_ECONFLICT, "cms_id", ": duplicate CMS id", m->cms_id);
    }
    size_t d;
    for (d = 0; d < p->ndomains; d++)
        if (!strcmp(p->domains[d].id, m->domain) && p->domains[d].part == m->part) break;
    if (d == p->ndomains)
        return perr(c, SG_EPARSE, "domain", ": not a domain of this part listed in [domains]",
                    m->domain);
    p->nmeasures++;
    return SG_OK;
}

static int row_domain(struct pctx *c, struct stars_params *p, const struct table *t, char **cells)
{
    int rc;
    COL(id);
    COL(part);
    COL(name);
    if (p->ndomains == STARS_MAX_DOMAINS)
        return perr(c, SG_ETOOBIG, NULL, "too many domains", NULL);
    struct stars_domain_def *d = &p->domains[p->ndomains];
    if ((rc = copy_cell(c, "id", id, d->id, sizeof d->id)) ||
        (rc = copy_cell(c, "name", name, d->name, sizeof d->name)))
        return rc;
    if (strcmp(part, "C") && strcmp(part, "D"))
        return perr(c, SG_EPARSE, "part", ": must be C or D", part);
    d->part = part[0];
    p->ndomains++;
    return SG_OK;
}

static int row_min(struct pctx *c, struct stars_params *p, const struct table *t, char **cells)
{
    int rc, r, cl, mn, nof;
    COL(rating);
    COL(class);
    COL(min);
    COL(of);
    if (!strcmp(rating, "part_c"))
        r = 0;
    else if (!strcmp(rating, "part_d"))
        r = 1;
    else if (!strcmp(rating, "overall"))
        r = 2;
    else
        return perr(c, SG_EPARSE, "rating", ": must be part_c, part_d or overall", rating);
    if ((cl = stars_class_parse(class)) < 0)
        return perr(c, SG_EPARSE, "class", ": unknown contract class", class);
    if ((rc = parse_int(c, "min", min, 1, STARS_MAX_MEASURES, &mn)) ||
        (rc = parse_int(c, "of", of, 1, STARS_MAX_MEASURES, &nof)))
        return rc;
    if (mn > nof) return perr(c, SG_ERANGE, "min", ": larger than 'of'", min);
    p->min_measures[r][cl] = mn;
    p->of_measures[r][cl] = nof;
    return SG_OK;
}

static int which(struct pctx *c, const char *col, const char *s, int allow_any, int *out)
{
    if (!strcmp(s, "with"))
        *out = 1;
    else if (!strcmp(s, "without"))
        *out = 0;
    else if (allow_any && !strcmp(s, "any"))
        *out = 2;
    else
        return perr(c, SG_EPARSE, col, ": must be with, without or any", s);
    return SG_OK;
}

static int row_reward(struct pctx *c, struct stars_params *p, const struct table *t, char **cells)
{
    int rc, imp = 0, nw = 0, r;
    COL(improvement);
    COL(new);
    COL(rating);
    COL(mean_p65);
    COL(mean_p85);
    COL(var_p30);
    COL(var_p70);
    if ((rc = which(c, "improvement", improvement, 0, &imp)) || (rc = which(c, "new", new, 1, &nw)))
        return rc;
    if ((r = stars_rating_type_parse(rating)) < 0)
        return perr(c, SG_EPARSE, "rating", ": unknown rating type", rating);
    struct stars_reward_row row = {.present = 1};
    if ((rc = parse_double(c, "mean_p65", mean_p65, &row.mean_p65)) ||
        (rc = parse_double(c, "mean_p85", mean_p85, &row.mean_p85)) ||
        (rc = parse_double(c, "var_p30", var_p30, &row.var_p30)) ||
        (rc = parse_double(c, "var_p70", var_p70, &row.var_p70)))
        return rc;
    if (row.mean_p65 > row.mean_p85 || row.var_p30 > row.var_p70)
        return perr(c, SG_ERANGE, "mean_p65", ": thresholds out of order", mean_p65);
    if (nw == 2) {
        p->reward[imp][0][r] = row;
        p->reward[imp][1][r] = row;
    } else {
        p->reward[imp][nw][r] = row;
    }
    return SG_OK;
}

static int row_cai(struct pctx *c, struct stars_params *p, const struct table *t, char **cells)
{
    int rc, r, nfac;
    double v;
    COL(rating);
    COL(fac);
    COL(value);
    if ((r = stars_rating_type_parse(rating)) < 0)
        return perr(c, SG_EPARSE, "rating", ": unknown rating type", rating);
    if ((rc = parse_int(c, "fac", fac, 1, STARS_MAX_FAC, &nfac)) ||
        (rc = parse_double(c, "value", value, &v)))
        return rc;
    if (fabs(v) > 1) return perr(c, SG_ERANGE, "value", ": CAI beyond +-1", value);
    if ((size_t)nfac != p->nfac[r] + 1)
        return perr(c, SG_EPARSE, "fac", ": categories must be listed 1, 2, 3, ... in order", fac);
    p->cai[r][nfac - 1] = v;
    p->nfac[r] = (size_t)nfac;
    return SG_OK;
}

static int year_key(struct pctx *c, struct stars_params *p, const char *key, const char *val)
{
    int rc;
    if (!strcmp(key, "star_year")) return parse_int(c, key, val, 2008, 2100, &p->star_year);
    if (!strcmp(key, "disaster_threshold")) {
        if ((rc = parse_double(c, key, val, &p->disaster_threshold))) return rc;
        if (p->disaster_threshold <= 0 || p->disaster_threshold > 100)
            return perr(c, SG_ERANGE, key, ": must be in (0, 100]", val);
        return SG_OK;
    }
    if (!strcmp(key, "hold_harmless_min")) {
        if ((rc = parse_double(c, key, val, &p->hold_harmless_min))) return rc;
        if (p->hold_harmless_min < 1 || p->hold_harmless_min > 5)
            return perr(c, SG_ERANGE, key, ": must be in [1, 5]", val);
        return SG_OK;
    }
    if (!strcmp(key, "cut_disaster_exclusion")) {
        if ((rc = parse_double(c, key, val, &p->cut_disaster_exclusion))) return rc;
        if (p->cut_disaster_exclusion < 0 || p->cut_disaster_exclusion > 100)
            return perr(c, SG_ERANGE, key, ": must be in [0, 100]", val);
        return SG_OK;
    }
    if (!strcmp(key, "new_measure_thresholds")) {
        if (!strcmp(val, "yes"))
            p->new_measure_thresholds = 1;
        else if (!strcmp(val, "no"))
            p->new_measure_thresholds = 0;
        else
            return perr(c, SG_EPARSE, key, ": must be yes or no", val);
        return SG_OK;
    }
    return perr(c, SG_EPARSE, NULL, "unknown key in [year]", key);
}

/* Checks made once the whole file is read. */
static int finish(struct pctx *c, struct stars_params *p)
{
    if (!p->star_year)
        return sg_errf(c->err, c->errlen, SG_EPARSE, "%s: [year] lacks star_year", c->name);
    if (!p->nmeasures)
        return sg_errf(c->err, c->errlen, SG_EPARSE, "%s: no [measures] rows", c->name);
    for (int imp = 0; imp < 2; imp++)
        for (int nw = 0; nw < 2; nw++)
            for (int r = 0; r < STARS_NRATING; r++)
                if (!p->reward[imp][nw][r].present) {
                    if (!p->new_measure_thresholds && p->reward[imp][1][r].present) {
                        p->reward[imp][nw][r] = p->reward[imp][1][r];
                        continue;
                    }
                    return sg_errf(c->err, c->errlen, SG_EPARSE,
                                   "%s: [reward] lacks the row improvement=%s new=%s rating=%s",
                                   c->name, imp ? "with" : "without", nw ? "with" : "without",
                                   rating_names[r]);
                }
    for (int r = 0; r < STARS_NRATING; r++)
        if (!p->nfac[r])
            return sg_errf(c->err, c->errlen, SG_EPARSE, "%s: [cai] has no rows for %s", c->name,
                           rating_names[r]);
    return SG_OK;
}

int stars_params_parse(const char *text, size_t len, const char *name, struct stars_params *p,
                       char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < STARS_NCLASS; k++)
            p->min_measures[r][k] = p->of_measures[r][k] = -1;
    p->disaster_threshold = 25;
    p->hold_harmless_min = 4;
    struct pctx c = {name ? name : "<params>", 0, err, errlen};
    enum section sec = SEC_NONE;
    struct table t = {0};
    int have_cols = 0;
    char line[1024];
    size_t pos = 0;
    int rc = SG_OK;
    while (pos < len) {
        size_t e = pos;
        while (e < len && text[e] != '\n')
            e++;
        c.line++;
        size_t ll = e - pos;
        if (ll >= sizeof line) return perr(&c, SG_ETOOBIG, NULL, "line too long", NULL);
        memcpy(line, text + pos, ll);
        line[ll] = '\0';
        pos = e + 1;
        if (strlen(line) != ll) return perr(&c, SG_EPARSE, NULL, "NUL byte in line", NULL);
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        if (*s == '[') {
            static const char *const names[] = {
                "", "[year]", "[domains]", "[measures]", "[min_measures]", "[reward]", "[cai]"};
            size_t k;
            for (k = 1; k < sizeof names / sizeof *names; k++)
                if (!strcmp(s, names[k])) break;
            if (k == sizeof names / sizeof *names)
                return perr(&c, SG_EPARSE, NULL, "unknown section", s);
            sec = (enum section)k;
            have_cols = 0;
            continue;
        }
        if (sec == SEC_NONE) return perr(&c, SG_EPARSE, NULL, "text before the first [section]", s);
        char *eq = strchr(s, '=');
        if (sec == SEC_YEAR) {
            if (!eq) return perr(&c, SG_EPARSE, NULL, "expected key = value", s);
            *eq = '\0';
            if ((rc = year_key(&c, p, trim(s), trim(eq + 1)))) return rc;
            continue;
        }
        if (!have_cols) {
            if (!eq || strncmp(s, "columns", 7) || trim(s + 7) != eq)
                return perr(&c, SG_EPARSE, NULL, "a table section must start with 'columns = ...'",
                            s);
            char *cells[MAX_COLS];
            int n = split(eq + 1, cells, MAX_COLS);
            if (n < 0) return perr(&c, SG_ETOOBIG, NULL, "too many columns", NULL);
            t.ncols = n;
            for (int i = 0; i < n; i++) {
                if (strlen(cells[i]) >= sizeof t.names[i])
                    return perr(&c, SG_ETOOBIG, NULL, "column name too long", cells[i]);
                strcpy(t.names[i], cells[i]);
            }
            have_cols = 1;
            continue;
        }
        char *cells[MAX_COLS];
        int n = split(s, cells, MAX_COLS);
        if (n != t.ncols) {
            char got[32];
            snprintf(got, sizeof got, "%d cells", n < 0 ? MAX_COLS + 1 : n);
            return sg_errf(err, errlen, SG_EPARSE, "%s:%d: expected %d |-separated cells, got %s",
                           c.name, c.line, t.ncols, got);
        }
        switch (sec) {
        case SEC_DOMAINS: rc = row_domain(&c, p, &t, cells); break;
        case SEC_MEASURES: rc = row_measure(&c, p, &t, cells); break;
        case SEC_MIN: rc = row_min(&c, p, &t, cells); break;
        case SEC_REWARD: rc = row_reward(&c, p, &t, cells); break;
        case SEC_CAI: rc = row_cai(&c, p, &t, cells); break;
        default: rc = SG_EINTERNAL; break;
        }
        if (rc) return rc;
    }
    return finish(&c, p);
}

int stars_find_code(const struct stars_params *p, const char *code)
{
    for (size_t i = 0; i < p->nmeasures; i++)
        if (!strcasecmp(p->measures[i].code, code)) return (int)i;
    return -1;
}

/* Normalizes a measure name for matching: drops a "C01:" prefix, lowercases, maps en/em dashes
 * (UTF-8 E2 80 93/94) and '-' to one '-', collapses whitespace, and turns the typographic
 * apostrophe into '. */
static void norm_name(const char *s, char *out, size_t cap)
{
    if ((s[0] == 'C' || s[0] == 'D') && isdigit((unsigned char)s[1]) &&
        isdigit((unsigned char)s[2]) && s[3] == ':')
        s += 4;
    size_t o = 0;
    int space = 1;
    while (*s && o + 1 < cap) {
        unsigned char ch = (unsigned char)*s;
        if (ch == 0xE2 && (unsigned char)s[1] == 0x80 &&
            ((unsigned char)s[2] == 0x93 || (unsigned char)s[2] == 0x94)) {
            ch = '-';
            s += 2;
        } else if (ch == 0xE2 && (unsigned char)s[1] == 0x80 && (unsigned char)s[2] == 0x99) {
            ch = '\'';
            s += 2;
        }
        s++;
        if (isspace(ch)) {
            space = 1;
            continue;
        }
        if (space && o > 0) out[o++] = ' ';
        space = 0;
        if (o + 1 < cap) out[o++] = (char)tolower(ch);
    }
    out[o] = '\0';
}

int stars_find_name(const struct stars_params *p, char part, const char *name)
{
    char a[STARS_NAME_LEN * 2], b[STARS_NAME_LEN * 2];
    norm_name(name, a, sizeof a);
    for (size_t i = 0; i < p->nmeasures; i++) {
        if (part && p->measures[i].part != part) continue;
        norm_name(p->measures[i].name, b, sizeof b);
        if (!strcmp(a, b)) return (int)i;
    }
    return -1;
}
