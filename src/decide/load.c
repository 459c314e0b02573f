/* load.c: builds the portfolio problems of one measurement year from the store.
 *
 * Three bulk scans (members, the latest prediction per member and measure, the measure results
 * of the year) are joined in memory by member index: members are sorted here (not trusting the
 * database collation), predictions are sorted by (member, measure) and looked up by binary
 * search. Per contract, the measures that have a star this star year, published cut points and
 * an intervention type become pf_measures with their denominators and compliant counts; their
 * open gaps become pf_gaps with the latest prediction's gap probability. The rater adapter over
 * stars_rate() is set up with the contract's other measures from its latest star_ratings row. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/csv.h"
#include "core/fileio.h"
#include "decide/decide.h"

#define DC_MAX_CODES 64
#define DC_MAX_CONTRACTS 65535

int dc_rater_rate(void *ctx, const int *stars, size_t n, struct pf_ratings *out)
{
    const struct dc_rater *a = ctx;
    struct stars_contract_input in = a->base; /* copy: the callback must be reentrant */
    struct stars_result r;
    for (size_t i = 0; i < n; i++) {
        struct stars_measure_input *m = &in.m[a->idx[i]];
        m->has_score = 0;
        m->not_required = 0;
        m->star = stars[i]; /* 0 leaves the measure unrated */
    }
    int rc = stars_rate(a->params, &in, NULL, NULL, &r, NULL, 0);
    if (rc) return rc;
    out->part_c = r.part_c.rating;
    out->part_c_raw = r.part_c.raw;
    out->part_d = r.part_d.rating;
    out->part_d_raw = r.part_d.raw;
    out->overall = r.overall.rating;
    out->overall_raw = r.overall.raw;
    return SG_OK;
}

const char *dc_data_dir(const struct sg_config *cfg)
{
    return cfg && cfg->data_dir[0] ? cfg->data_dir : STARGAP_DATA_DIR_DEFAULT;
}

int dc_cuts_load(const struct stars_params *p, const char *path, struct stars_cut *cuts, char *err,
                 size_t errlen)
{
    memset(cuts, 0, 2 * STARS_MAX_MEASURES * sizeof *cuts);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return sg_errf(err, errlen, SG_ENOTFOUND,
                           "no cut points for star year %d: %s is missing", p->star_year, path);
        return sg_errf(err, errlen, SG_EIO, "%s: cannot open: %s", path, strerror(errno));
    }
    struct sg_csv *c = NULL;
    int rc = sg_csv_open(&c, f, path, NULL, err, errlen);
    int got;
    while (!rc && (got = sg_csv_next(c, err, errlen)) != 0) {
        if (got < 0) {
            rc = got;
            break;
        }
        long line = sg_csv_line(c);
        if (sg_csv_record(c) == 1) {
            if (strcmp(sg_csv_field(c, 0), "plan") || sg_csv_nfields(c) != 8)
                rc = sg_errf(err, errlen, SG_EPARSE,
                             "%s:%ld: header must be plan,cms_id,measure,star1,...,star5", path,
                             line);
            continue;
        }
        if (sg_csv_nfields(c) != 8) {
            rc = sg_errf(err, errlen, SG_EPARSE, "%s:%ld: expected 8 fields, got %zu", path, line,
                         sg_csv_nfields(c));
            break;
        }
        const char *plan = sg_csv_field(c, 0), *id = sg_csv_field(c, 1);
        int pdp = !strcmp(plan, "PDP");
        if (!pdp && strcmp(plan, "MA")) {
            rc = sg_errf(err, errlen, SG_EPARSE, "%s:%ld: field plan: '%s' is not MA or PDP", path,
                         line, plan);
            break;
        }
        int j = -1;
        for (size_t i = 0; i < p->nmeasures; i++)
            if (!strcmp(p->measures[i].cms_id, id)) j = (int)i;
        if (j < 0) {
            rc = sg_errf(err, errlen, SG_EPARSE, "%s:%ld: field cms_id: '%s' is not a %d measure",
                         path, line, id, p->star_year);
            break;
        }
        struct stars_cut *cut = &cuts[2 * j + pdp];
        memset(cut, 0, sizeof *cut);
        for (int s = 1; s <= 5 && !rc; s++)
            if (stars_parse_band(sg_csv_field(c, (size_t)(2 + s)), s,
                                 p->measures[j].higher_is_better, cut) != SG_OK)
                rc = sg_errf(err, errlen, SG_EPARSE, "%s:%ld: field star%d: cannot read '%s'", path,
                             line, s, sg_csv_field(c, (size_t)(2 + s)));
        cut->valid = 1;
    }
    sg_csv_free(c);
    fclose(f);
    return rc;
}

/* ---- loading ---- */

struct mrow {
    char hash[STORE_HASH_LEN];
    char contract[STORE_CONTRACT_LEN];
    int active;
};

struct pred {
    uint32_t member;
    uint8_t code; /* index into the code table */
    uint8_t tier;
    float gp;
};

struct open_gap {
    uint32_t member;
    uint8_t code;
    uint8_t tier;
    uint8_t scored;
    float gp;
};

struct loader {
    struct dc_portfolio *p;
    struct mrow *m;
    size_t nm, capm;
    char codes[DC_MAX_CODES][STORE_CODE_LEN];
    size_t ncodes;
    struct pred *pr;
    size_t npr, cappr;
    struct open_gap *og;
    size_t nog, capog;
    long (*den)[DC_MAX_CODES]; /* per contract, per code */
    long (*comp)[DC_MAX_CODES];
    char (*cids)[STORE_CONTRACT_LEN];
    size_t ncids;
    const char *only; /* contract filter */
    size_t cursor;    /* last member found (scans are in member order) */
    char *err;
    size_t errlen;
};

static int grow(void **a, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 4096;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*a, nc * size);
    if (!q) return -1;
    *a = q;
    *cap = nc;
    return 0;
}

static int on_member(void *ctx, const struct store_member *m)
{
    struct loader *L = ctx;
    if (grow((void **)&L->m, &L->capm, L->nm + 1, sizeof *L->m))
        return sg_errf(L->err, L->errlen, SG_ENOMEM, "members: out of memory");
    struct mrow *r = &L->m[L->nm++];
    memcpy(r->hash, m->member_hash, sizeof r->hash);
    memcpy(r->contract, m->contract_id, sizeof r->contract);
    r->active = m->active;
    return 0;
}

static int cmp_mrow(const void *a, const void *b)
{
    return strcmp(((const struct mrow *)a)->hash, ((const struct mrow *)b)->hash);
}

/* Member index of a hash; scans arrive in (roughly) member order, so try the cursor first. */
static long find_member(struct loader *L, const char *h)
{
    if (L->cursor < L->nm && !strcmp(L->m[L->cursor].hash, h)) return (long)L->cursor;
    if (L->cursor + 1 < L->nm && !strcmp(L->m[L->cursor + 1].hash, h)) return (long)++L->cursor;
    size_t lo = 0, hi = L->nm;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(L->m[mid].hash, h);
        if (!c) {
            L->cursor = mid;
            return (long)mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int code_index(struct loader *L, const char *code)
{
    for (size_t i = 0; i < L->ncodes; i++)
        if (!strcmp(L->codes[i], code)) return (int)i;
    if (L->ncodes == DC_MAX_CODES) return -1;
    snprintf(L->codes[L->ncodes], STORE_CODE_LEN, "%s", code);
    return (int)L->ncodes++;
}

static int contract_index(struct loader *L, const char *id)
{
    for (size_t i = 0; i < L->ncids; i++)
        if (!strcmp(L->cids[i], id)) return (int)i;
    return -1;
}

static int on_pred(void *ctx, const struct store_prediction *p)
{
    struct loader *L = ctx;
    long mi = find_member(L, p->member_hash);
    int ci = code_index(L, p->measure_code);
    if (mi < 0 || ci < 0) return 0; /* FK guarantees the member; >64 codes cannot be in a problem */
    if (grow((void **)&L->pr, &L->cappr, L->npr + 1, sizeof *L->pr))
        return sg_errf(L->err, L->errlen, SG_ENOMEM, "predictions: out of memory");
    struct pred *r = &L->pr[L->npr++];
    r->member = (uint32_t)mi;
    r->code = (uint8_t)ci;
    r->tier = (uint8_t)p->risk_tier;
    r->gp = (float)p->gap_probability;
    return 0;
}

static int cmp_pred(const void *a, const void *b)
{
    const struct pred *x = a, *y = b;
    if (x->member != y->member) return x->member < y->member ? -1 : 1;
    return (int)x->code - (int)y->code;
}

static const struct pred *find_pred(const struct loader *L, uint32_t member, uint8_t code)
{
    size_t lo = 0, hi = L->npr;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const struct pred *q = &L->pr[mid];
        if (q->member == member && q->code == code) return q;
        if (q->member < member || (q->member == member && q->code < code))
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int on_result(void *ctx, const struct store_measure_result *r)
{
    struct loader *L = ctx;
    long mi = find_member(L, r->member_hash);
    if (mi < 0) return 0;
    uint16_t k = L->p->member_contract[mi];
    if (k == UINT16_MAX) return 0; /* another contract than the one asked for */
    int ci = code_index(L, r->measure_code);
    if (ci < 0)
        return sg_errf(L->err, L->errlen, SG_ETOOBIG, "measure_results: more than %d measures",
                       DC_MAX_CODES);
    if (!r->denominator || r->denominator_exclusion) return 0;
    L->den[k][ci]++;
    if (r->numerator) {
        L->comp[k][ci]++;
        return 0;
    }
    if (grow((void **)&L->og, &L->capog, L->nog + 1, sizeof *L->og))
        return sg_errf(L->err, L->errlen, SG_ENOMEM, "open gaps: out of memory");
    struct open_gap *g = &L->og[L->nog++];
    g->member = (uint32_t)mi;
    g->code = (uint8_t)ci;
    const struct pred *q = find_pred(L, (uint32_t)mi, (uint8_t)ci);
    g->scored = q != NULL;
    g->gp = q ? q->gp : 1.0f;
    /* no prediction: treated as certain to stay open, tier by that probability (issue 6) */
    g->tier = q ? q->tier : (uint8_t)PF_TIER_HIGH;
    return 0;
}

/* Stars of the contract's other measures from its latest star_ratings row ({"CODE": star}). */
static int other_stars(struct store *st, const struct dc_portfolio *p, struct dc_contract *c,
                       char *err, size_t errlen)
{
    struct store_star_rating r;
    int rc = store_star_rating_get_latest(st, c->contract_id, p->star_year, &r, err, errlen);
    if (rc == SG_ENOTFOUND) return SG_OK;
    if (rc) return rc;
    json_error_t je;
    json_t *o = r.measure_stars ? json_loads(r.measure_stars, 0, &je) : NULL;
    const char *key;
    json_t *v;
    if (json_is_object(o)) {
        json_object_foreach(o, key, v)
        {
            int j = stars_find_code(p->params, key);
            /* member-level measures come from the store's data, not from a stored rating */
            if (j < 0 || !json_is_integer(v) || p->params->measures[j].member_level) continue;
            json_int_t s = json_integer_value(v);
            if (s >= 1 && s <= 5) {
                c->rater.base.m[j].star = (int)s;
                c->other_measures = 1;
            }
        }
    }
    json_decref(o);
    store_star_rating_fini(&r);
    return SG_OK;
}

static int build_contract(struct loader *L, struct store *st, size_t k, char *err, size_t errlen)
{
    struct dc_portfolio *p = L->p;
    struct dc_contract *c = &p->c[k];
    int pm[DC_MAX_CODES]; /* code -> problem measure, -1 */
    memset(pm, -1, sizeof pm);
    snprintf(c->contract_id, sizeof c->contract_id, "%s", L->cids[k]);
    c->rater.params = p->params;
    c->rater.base.cls = STARS_CLASS_CCP;
    for (size_t ci = 0; ci < L->ncodes; ci++) {
        if (!L->den[k][ci]) continue;
        int j = stars_find_code(p->params, L->codes[ci]);
        if (j < 0 || p->params->measures[j].weight <= 0) continue;
        const struct stars_measure_def *d = &p->params->measures[j];
        const struct stars_cut *cut = &p->cuts[2 * j];
        if (!cut->valid || !cut->present[0] || !cut->present[1] || !cut->present[2] ||
            !cut->present[3])
            continue;
        if (!pf_config_itype(&p->cfg, L->codes[ci]) || c->n_measures == PF_MAX_MEASURES) continue;
        struct pf_measure *m = &c->measures[c->n_measures];
        snprintf(m->code, sizeof m->code, "%s", d->code);
        m->part = d->part;
        m->weight = d->weight;
        m->lower_is_better = !d->higher_is_better;
        m->precision = d->precision;
        for (int t = 0; t < 4; t++)
            m->cut[t] = cut->t[t];
        m->guardrail = d->scale == STARS_SCALE_PCT ? 5.0 : 0.0;
        m->denominator = L->den[k][ci];
        m->compliant = m->lower_is_better ? m->denominator - L->comp[k][ci] : L->comp[k][ci];
        c->rater.idx[c->n_measures] = j;
        if (d->part == 'D') c->rater.base.offers_part_d = 1;
        pm[ci] = (int)c->n_measures++;
    }
    /* gaps of this contract, in member order */
    size_t n = 0;
    for (size_t i = 0; i < L->nog; i++)
        if (p->member_contract[L->og[i].member] == k && pm[L->og[i].code] >= 0) n++;
    c->gaps = calloc(n ? n : 1, sizeof *c->gaps);
    c->gap_member = calloc(n ? n : 1, sizeof *c->gap_member);
    c->dense = calloc(n ? n : 1, sizeof *c->dense);
    if (!c->gaps || !c->gap_member || !c->dense)
        return sg_errf(err, errlen, SG_ENOMEM, "gaps: out of memory");
    long last = -1;
    for (size_t i = 0; i < L->nog; i++) {
        const struct open_gap *g = &L->og[i];
        if (p->member_contract[g->member] != k) continue;
        if (pm[g->code] < 0) {
            struct dc_extra_gap *e = &p->extra[p->n_extra++];
            e->member = g->member;
            snprintf(e->measure, sizeof e->measure, "%s", L->codes[g->code]);
            e->gap_probability = g->gp;
            e->tier = g->tier;
            continue;
        }
        if ((long)g->member != last) {
            c->dense[c->n_dense++] = g->member;
            last = g->member;
        }
        struct pf_gap *x = &c->gaps[c->n_gaps];
        x->member = (uint32_t)(c->n_dense - 1);
        x->measure = (uint16_t)pm[g->code];
        x->tier = g->tier;
        x->gap_probability = g->gp;
        c->gap_member[c->n_gaps++] = g->member;
        if (!g->scored) c->unscored++;
    }
    int rc = other_stars(st, p, c, err, errlen);
    if (rc) return rc;
    if (!c->other_measures) /* rate over the measures stargap has data for */
        for (size_t j = 0; j < p->params->nmeasures; j++)
            c->rater.base.m[j].not_required = 1;
    c->prob.measures = c->measures;
    c->prob.n_measures = c->n_measures;
    c->prob.gaps = c->gaps;
    c->prob.n_gaps = c->n_gaps;
    c->prob.cfg = &p->cfg;
    c->prob.rater.rate = dc_rater_rate;
    c->prob.rater.ctx = &c->rater;
    c->prob.members = c->members;
    return SG_OK;
}

static int load_params(const char *data_dir, int year, struct stars_params *p, char *err,
                       size_t errlen)
{
    char path[4096], e2[SG_ERRLEN];
    snprintf(path, sizeof path, "%s/stars/%d.txt", data_dir, year);
    char *text = NULL;
    size_t len = 0;
    int rc = sg_read_file(path, 1 << 20, &text, &len, e2, sizeof e2);
    if (rc)
        return sg_errf(err, errlen, SG_EINVAL, "star_year: no parameters for star year %d (%s)",
                       year, e2);
    rc = stars_params_parse(text, len, path, p, err, errlen);
    free(text);
    if (!rc && p->star_year != year)
        rc = sg_errf(err, errlen, SG_EINVAL, "%s: is for star year %d", path, p->star_year);
    return rc;
}

int dc_load(struct store *st, const char *data_dir, int year, int star_year, const char *contract,
            struct dc_portfolio **out, char *err, size_t errlen)
{
    struct loader L;
    memset(&L, 0, sizeof L);
    *out = NULL;
    if (year < 2000 || year > 2100)
        return sg_errf(err, errlen, SG_EINVAL, "year: %d outside 2000..2100", year);
    if (!star_year) star_year = year + 2;
    if (star_year < year || star_year > year + 3)
        return sg_errf(err, errlen, SG_EINVAL, "star_year: %d does not rate measurement year %d",
                       star_year, year);
    struct dc_portfolio *p = calloc(1, sizeof *p);
    if (!p) return sg_errf(err, errlen, SG_ENOMEM, "out of memory");
    L.p = p;
    L.err = err;
    L.errlen = errlen;
    L.only = contract && *contract ? contract : NULL;
    p->year = year;
    p->star_year = star_year;
    p->params = calloc(1, sizeof *p->params);
    p->cuts = calloc(2 * STARS_MAX_MEASURES, sizeof *p->cuts);
    int rc = !p->params || !p->cuts ? sg_errf(err, errlen, SG_ENOMEM, "out of memory") : SG_OK;
    if (!rc) rc = load_params(data_dir, star_year, p->params, err, errlen);
    char path[4096];
    if (!rc) {
        snprintf(path, sizeof path, "%s/stars/cuts/%d.csv", data_dir, star_year);
        rc = dc_cuts_load(p->params, path, p->cuts, err, errlen);
        if (rc == SG_ENOTFOUND) {
            char e2[SG_ERRLEN];
            snprintf(e2, sizeof e2, "%s", err ? err : "");
            rc = sg_errf(err, errlen, SG_EINVAL, "star_year: %s", e2);
        }
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/portfolio", data_dir);
        rc = pf_config_load_dir(&p->cfg, path, err, errlen);
    }
    if (!rc) rc = store_member_scan(st, on_member, &L, err, errlen);
    if (rc) goto fail;
    qsort(L.m, L.nm, sizeof *L.m, cmp_mrow);
    /* contracts (only the asked one) and their active members */
    p->n_members = L.nm;
    p->hashes = calloc(L.nm ? L.nm : 1, sizeof *p->hashes);
    p->member_contract = calloc(L.nm ? L.nm : 1, sizeof *p->member_contract);
    L.cids = calloc(DC_MAX_CONTRACTS, sizeof *L.cids);
    long *members = calloc(DC_MAX_CONTRACTS, sizeof *members);
    if (!p->hashes || !p->member_contract || !L.cids || !members) {
        free(members);
        rc = sg_errf(err, errlen, SG_ENOMEM, "members: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < L.nm; i++) {
        memcpy(p->hashes[i], L.m[i].hash, STORE_HASH_LEN);
        p->member_contract[i] = UINT16_MAX;
        if (L.only && strcmp(L.m[i].contract, L.only)) continue;
        int k = (i && !strcmp(L.m[i - 1].contract, L.m[i].contract) &&
                 p->member_contract[i - 1] != UINT16_MAX)
                    ? p->member_contract[i - 1]
                    : contract_index(&L, L.m[i].contract);
        if (k < 0) {
            if (L.ncids == DC_MAX_CONTRACTS - 1) {
                free(members);
                rc = sg_errf(err, errlen, SG_ETOOBIG, "members: more than %d contracts",
                             DC_MAX_CONTRACTS - 1);
                goto fail;
            }
            k = (int)L.ncids;
            snprintf(L.cids[L.ncids++], STORE_CONTRACT_LEN, "%s", L.m[i].contract);
        }
        p->member_contract[i] = (uint16_t)k;
        if (L.m[i].active) members[k]++;
    }
    if (!L.ncids) {
        free(members);
        rc = L.only ? sg_errf(err, errlen, SG_EINVAL, "contract: no members in contract %s", L.only)
                    : sg_errf(err, errlen, SG_EINVAL, "members: the database holds no members");
        goto fail;
    }
    L.den = calloc(L.ncids, sizeof *L.den);
    L.comp = calloc(L.ncids, sizeof *L.comp);
    p->c = calloc(L.ncids, sizeof *p->c);
    if (!L.den || !L.comp || !p->c) {
        free(members);
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto fail;
    }
    p->n = L.ncids;
    for (size_t k = 0; k < L.ncids; k++)
        p->c[k].members = members[k];
    free(members);
    rc = store_prediction_scan_latest(st, year, on_pred, &L, err, errlen);
    if (rc) goto fail;
    qsort(L.pr, L.npr, sizeof *L.pr, cmp_pred);
    L.cursor = 0;
    rc = store_measure_result_scan(st, year, on_result, &L, err, errlen);
    if (rc) goto fail;
    long long den_total = 0;
    for (size_t k = 0; k < L.ncids; k++)
        for (size_t ci = 0; ci < L.ncodes; ci++)
            den_total += L.den[k][ci];
    if (!den_total) {
        rc = sg_errf(err, errlen, SG_EINVAL,
                     "year: no measure results in a denominator for measurement year %d%s%s", year,
                     L.only ? " in contract " : "", L.only ? L.only : "");
        goto fail;
    }
    p->extra = calloc(L.nog ? L.nog : 1, sizeof *p->extra);
    if (!p->extra) {
        rc = sg_errf(err, errlen, SG_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t k = 0; k < L.ncids && !rc; k++)
        rc = build_contract(&L, st, k, err, errlen);
    if (rc) goto fail;
    free(L.m);
    free(L.pr);
    free(L.og);
    free(L.den);
    free(L.comp);
    free(L.cids);
    *out = p;
    return SG_OK;
fail:
    free(L.m);
    free(L.pr);
    free(L.og);
    free(L.den);
    free(L.comp);
    free(L.cids);
    dc_free(p);
    return rc;
}

void dc_free(struct dc_portfolio *p)
{
    if (!p) return;
    for (size_t k = 0; k < p->n; k++) {
        free(p->c[k].gaps);
        free(p->c[k].gap_member);
        free(p->c[k].dense);
    }
    free(p->c);
    free(p->params);
    free(p->cuts);
    free(p->hashes);
    free(p->member_contract);
    free(p->extra);
    free(p);
}

int dc_find_contract(const struct dc_portfolio *p, const char *contract_id)
{
    for (size_t k = 0; k < p->n; k++)
        if (!strcmp(p->c[k].contract_id, contract_id)) return (int)k;
    return -1;
}
