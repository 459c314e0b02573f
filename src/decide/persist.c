/* persist.c: what the portfolio module computes, written to the store and encoded as JSON.
 *
 * Gap analysis: each contract's open gaps are valued (pf_marginal_values, pf_gap_values) and the
 * whole set is handed to store_gap_refresh_batch, which inserts, refreshes and closes in one
 * transaction; bundle candidates are counted and, on request, recorded as planned interventions
 * once per member and set of measure codes. Snapshots: one row per contract and one for the
 * whole portfolio. The JSON encoders are shared by the CLI (--json) and the API responses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decide/decide.h"

static json_t *jreal(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Values of a contract's gaps; value/priority arrays of n_gaps (caller frees). */
static int contract_values(struct dc_contract *c, struct pf_marginal *mv, double **value,
                           double **priority, char *err, size_t errlen)
{
    *value = calloc(c->n_gaps ? c->n_gaps : 1, sizeof **value);
    *priority = calloc(c->n_gaps ? c->n_gaps : 1, sizeof **priority);
    if (!*value || !*priority) return sg_errf(err, errlen, SG_ENOMEM, "gap values: out of memory");
    if (!c->n_gaps || !c->members) return SG_OK;
    int rc = pf_marginal_values(&c->prob, mv, err, errlen);
    if (!rc) rc = pf_gap_values(&c->prob, mv, *value, *priority, err, errlen);
    return rc;
}

int dc_gaps_refresh(struct dc_portfolio *p, struct store *st, const struct store_actor *a,
                    int create_bundles, struct dc_gaps_summary *sum, char *err, size_t errlen)
{
    memset(sum, 0, sizeof *sum);
    struct store_gap *rows = NULL;
    double *value = NULL, *priority = NULL;
    struct pf_candidates cand;
    memset(&cand, 0, sizeof cand);
    int rc = SG_OK;
    for (size_t k = 0; k < p->n && !rc; k++) {
        struct dc_contract *c = &p->c[k];
        struct pf_marginal mv[PF_MAX_MEASURES];
        if ((rc = contract_values(c, mv, &value, &priority, err, errlen))) break;
        size_t n_extra = 0;
        for (size_t i = 0; i < p->n_extra; i++)
            if (p->member_contract[p->extra[i].member] == k) n_extra++;
        size_t n = c->n_gaps + n_extra;
        rows = calloc(n ? n : 1, sizeof *rows);
        if (!rows) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "gap rows: out of memory");
            break;
        }
        for (size_t g = 0; g < c->n_gaps; g++) {
            struct store_gap *r = &rows[g];
            const struct pf_measure *m = &c->measures[c->gaps[g].measure];
            const struct pf_itype *t = pf_config_itype(&p->cfg, m->code);
            memcpy(r->member_hash, p->hashes[c->gap_member[g]], STORE_HASH_LEN);
            snprintf(r->contract_id, sizeof r->contract_id, "%s", c->contract_id);
            snprintf(r->measure_code, sizeof r->measure_code, "%s", m->code);
            r->measurement_year = p->year;
            r->gap_probability = c->gaps[g].gap_probability;
            r->priority_score = priority[g];
            snprintf(r->intervention_type, sizeof r->intervention_type, "%s", t ? t->type : "");
            r->estimated_cost = t ? t->cost : NAN;
            r->estimated_value = value[g];
            sum->estimated_value += value[g];
        }
        size_t j = c->n_gaps;
        for (size_t i = 0; i < p->n_extra; i++) {
            const struct dc_extra_gap *e = &p->extra[i];
            if (p->member_contract[e->member] != k) continue;
            struct store_gap *r = &rows[j++];
            const struct pf_itype *t = pf_config_itype(&p->cfg, e->measure);
            memcpy(r->member_hash, p->hashes[e->member], STORE_HASH_LEN);
            snprintf(r->contract_id, sizeof r->contract_id, "%s", c->contract_id);
            snprintf(r->measure_code, sizeof r->measure_code, "%s", e->measure);
            r->measurement_year = p->year;
            r->gap_probability = e->gap_probability;
            r->priority_score = 0; /* no star weight this star year: no value */
            snprintf(r->intervention_type, sizeof r->intervention_type, "%s", t ? t->type : "");
            r->estimated_cost = t ? t->cost : NAN;
            r->estimated_value = 0;
        }
        struct store_refresh_counts k2;
        rc = store_gap_refresh_batch(st, a, p->year, c->contract_id, rows, n, &k2, err, errlen);
        if (!rc) {
            sum->open_gaps += (long long)n;
            sum->unscored += c->unscored;
            sum->counts.inserted += k2.inserted;
            sum->counts.updated += k2.updated;
            sum->counts.kept += k2.kept;
            sum->counts.closed += k2.closed;
        }
        if (!rc && c->n_gaps) rc = pf_candidates_build(&c->prob, 1, &cand, err, errlen);
        if (!rc && c->n_gaps) {
            pf_candidates_value(&c->prob, mv, &cand);
            for (size_t i = 0; i < cand.n && !rc; i++) {
                const struct pf_intervention *it = &cand.items[i];
                if (it->n_gaps < 2) continue;
                sum->bundles++;
                sum->bundle_cost += it->cost;
                for (uint32_t q = 0; q < it->n_gaps; q++) {
                    const struct pf_gap *g = &c->gaps[cand.gap_index[it->first + q]];
                    const struct pf_itype *t =
                        pf_config_itype(&p->cfg, c->measures[g->measure].code);
                    sum->bundle_single_cost += t ? t->cost : 0;
                }
                if (create_bundles) {
                    int made = 0;
                    rc = dc_create_intervention(p, st, a, k, &cand, i, err, errlen);
                    if (rc == SG_ECONFLICT)
                        rc = SG_OK; /* already planned */
                    else if (!rc)
                        made = 1;
                    sum->interventions_created += made;
                }
            }
        }
        pf_candidates_free(&cand);
        free(rows);
        free(value);
        free(priority);
        rows = NULL;
        value = priority = NULL;
    }
    free(rows);
    free(value);
    free(priority);
    pf_candidates_free(&cand);
    return rc;
}

/* Whether the member already has a planned/in-progress intervention on exactly these codes. */
static int already_planned(const struct store_intervention_list *l, const char **codes, size_t n)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct store_intervention *iv = &l->items[i];
        if (iv->status != STORE_IV_PLANNED && iv->status != STORE_IV_IN_PROGRESS) continue;
        if ((size_t)iv->n_measure_codes != n) continue;
        size_t hit = 0;
        for (size_t a = 0; a < n; a++)
            for (int b = 0; b < iv->n_measure_codes; b++)
                if (!strcmp(codes[a], iv->measure_codes[b])) hit++;
        if (hit == n) return 1;
    }
    return 0;
}

int dc_create_intervention(struct dc_portfolio *p, struct store *st, const struct store_actor *a,
                           size_t ci, const struct pf_candidates *cand, size_t item, char *err,
                           size_t errlen)
{
    struct dc_contract *c = &p->c[ci];
    const struct pf_intervention *it = &cand->items[item];
    const char *codes[STORE_MAX_CODES];
    size_t nc = pf_intervention_measures(&c->prob, cand, item, codes, STORE_MAX_CODES);
    if (nc > STORE_MAX_CODES) nc = STORE_MAX_CODES;
    const char *hash = p->hashes[c->dense[it->member]];
    struct store_intervention iv;
    memset(&iv, 0, sizeof iv);
    memcpy(iv.member_hash, hash, STORE_HASH_LEN);
    struct store_intervention_list have;
    int rc = store_intervention_get_by_member(st, NULL, hash, &have, err, errlen);
    if (rc) return rc;
    int dup = already_planned(&have, codes, nc);
    store_intervention_list_free(&have);
    if (dup) return sg_errf(err, errlen, SG_ECONFLICT, "intervention: already planned");
    if (it->n_gaps == 1) {
        struct store_gap_list gl;
        if ((rc = store_gap_get_by_member(st, NULL, hash, &gl, err, errlen))) return rc;
        for (size_t i = 0; i < gl.n; i++)
            if (gl.items[i].measurement_year == p->year &&
                !strcmp(gl.items[i].measure_code, codes[0]))
                memcpy(iv.gap_id, gl.items[i].gap_id, STORE_ID_LEN);
        store_gap_list_free(&gl);
        if (!iv.gap_id[0])
            return sg_errf(
                err, errlen, SG_EINVAL,
                "create: no gap_analysis row for a chosen %s gap (run `stargap gaps` first)",
                codes[0]);
    }
    for (size_t i = 0; i < nc; i++)
        snprintf(iv.measure_codes[i], STORE_CODE_LEN, "%s", codes[i]);
    iv.n_measure_codes = (int)nc;
    snprintf(iv.intervention_type, sizeof iv.intervention_type, "%s",
             pf_intervention_type(&c->prob, cand, item));
    if (it->rule >= 0)
        snprintf(iv.description, sizeof iv.description, "%s", p->cfg.rules[it->rule].desc);
    else {
        const struct pf_itype *t = pf_config_itype(&p->cfg, codes[0]);
        snprintf(iv.description, sizeof iv.description, "%s", t ? t->desc : "");
    }
    iv.estimated_cost = it->cost;
    iv.estimated_value = it->value >= 0 ? it->value : 0;
    iv.roi = it->cost > 0 ? it->value / it->cost : NAN;
    iv.status = STORE_IV_PLANNED;
    return store_intervention_create(st, a, &iv, err, errlen);
}

/* ---- snapshots ---- */

static char *by_measure_json(const struct dc_portfolio *p, const long *counts,
                             const char (*codes)[STORE_CODE_LEN], size_t n)
{
    (void)p;
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        if (counts[i]) json_object_set_new(o, codes[i], json_integer(counts[i]));
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    return s;
}

static char *by_tier_json(const long *t)
{
    json_t *o = json_pack("{s:I,s:I,s:I}", "high", (json_int_t)t[PF_TIER_HIGH], "medium",
                          (json_int_t)t[PF_TIER_MEDIUM], "low", (json_int_t)t[PF_TIER_LOW]);
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    return s;
}

#define DC_SNAP_CODES 128

int dc_snapshot(struct dc_portfolio *p, struct store *st, const struct store_actor *a,
                struct store_snapshot **rows_out, size_t *n_out, char *err, size_t errlen)
{
    if (rows_out) *rows_out = NULL;
    if (n_out) *n_out = 0;
    size_t nrows = p->n + (p->n > 1);
    struct store_snapshot *rows = calloc(nrows, sizeof *rows);
    if (!rows) return sg_errf(err, errlen, SG_ENOMEM, "snapshot: out of memory");
    char(*codes)[STORE_CODE_LEN] = calloc(DC_SNAP_CODES, sizeof *codes);
    long *all = calloc(DC_SNAP_CODES, sizeof *all);
    long tiers_all[PF_NTIERS] = {0};
    double w_cur = 0, w_proj = 0, m_cur = 0, m_proj = 0, value_all = 0;
    long members_all = 0, gaps_all = 0;
    size_t ncodes = 0;
    int rc = all && codes ? SG_OK : sg_errf(err, errlen, SG_ENOMEM, "snapshot: out of memory");
    for (size_t k = 0; k < p->n && !rc; k++) {
        struct dc_contract *c = &p->c[k];
        struct pf_marginal mv[PF_MAX_MEASURES];
        double *value = NULL, *priority = NULL;
        struct pf_snapshot s;
        memset(&s, 0, sizeof s);
        rc = contract_values(c, mv, &value, &priority, err, errlen);
        if (!rc && c->members) rc = pf_snapshot_compute(&c->prob, value, &s, err, errlen);
        free(value);
        free(priority);
        if (rc) break;
        long cnt[DC_SNAP_CODES] = {0};
        long tiers[PF_NTIERS];
        memcpy(tiers, s.gaps_by_tier, sizeof tiers);
        long total = s.total_gaps;
        for (size_t m = 0; m < c->n_measures; m++) {
            size_t j = 0;
            while (j < ncodes && strcmp(codes[j], c->measures[m].code))
                j++;
            if (j == ncodes && ncodes < DC_SNAP_CODES)
                snprintf(codes[ncodes++], STORE_CODE_LEN, "%s", c->measures[m].code);
            if (j < DC_SNAP_CODES) cnt[j] += s.gaps_by_measure[m];
        }
        for (size_t i = 0; i < p->n_extra; i++) {
            const struct dc_extra_gap *e = &p->extra[i];
            if (p->member_contract[e->member] != k) continue;
            size_t j = 0;
            while (j < ncodes && strcmp(codes[j], e->measure))
                j++;
            if (j == ncodes && ncodes < DC_SNAP_CODES)
                snprintf(codes[ncodes++], STORE_CODE_LEN, "%s", e->measure);
            if (j < DC_SNAP_CODES) cnt[j]++;
            if (e->tier < PF_NTIERS) tiers[e->tier]++;
            total++;
        }
        struct store_snapshot *r = &rows[k];
        snprintf(r->contract_id, sizeof r->contract_id, "%s", c->contract_id);
        r->measurement_year = p->year;
        r->total_members = c->members;
        r->total_gaps = total;
        r->gaps_by_measure = by_measure_json(p, cnt, (const char(*)[STORE_CODE_LEN])codes, ncodes);
        r->gaps_by_tier = by_tier_json(tiers);
        r->star_rating_current = s.star_current >= 1 ? s.star_current : NAN;
        r->star_rating_projected = s.star_projected >= 1 ? s.star_projected : NAN;
        r->estimated_value = s.estimated_value;
        if (!r->gaps_by_measure || !r->gaps_by_tier) {
            rc = sg_errf(err, errlen, SG_ENOMEM, "snapshot: out of memory");
            break;
        }
        for (size_t j = 0; j < DC_SNAP_CODES; j++)
            all[j] += cnt[j];
        for (int t = 0; t < PF_NTIERS; t++)
            tiers_all[t] += tiers[t];
        members_all += c->members;
        gaps_all += total;
        value_all += s.estimated_value;
        if (s.star_current >= 1) {
            w_cur += (double)c->members;
            m_cur += (double)c->members * s.star_current;
        }
        if (s.star_projected >= 1) {
            w_proj += (double)c->members;
            m_proj += (double)c->members * s.star_projected;
        }
    }
    if (!rc && p->n > 1) {
        struct store_snapshot *r = &rows[p->n];
        r->measurement_year = p->year;
        r->total_members = members_all;
        r->total_gaps = gaps_all;
        r->gaps_by_measure = by_measure_json(p, all, (const char(*)[STORE_CODE_LEN])codes, ncodes);
        r->gaps_by_tier = by_tier_json(tiers_all);
        /* enrollment-weighted mean of the contracts' ratings, half-star rounded */
        r->star_rating_current = w_cur > 0 ? pf_round_half_star(m_cur / w_cur) : NAN;
        r->star_rating_projected = w_proj > 0 ? pf_round_half_star(m_proj / w_proj) : NAN;
        r->estimated_value = value_all;
        if (!r->gaps_by_measure || !r->gaps_by_tier)
            rc = sg_errf(err, errlen, SG_ENOMEM, "snapshot: out of memory");
    }
    for (size_t i = 0; i < nrows && !rc; i++)
        rc = store_snapshot_create(st, a, &rows[i], err, errlen);
    free(all);
    free(codes);
    if (rc || !rows_out) {
        for (size_t i = 0; i < nrows; i++)
            store_snapshot_fini(&rows[i]);
        free(rows);
        return rc;
    }
    *rows_out = rows;
    if (n_out) *n_out = nrows;
    return SG_OK;
}

/* ---- JSON ---- */

static json_t *ratings_json(const struct pf_ratings *r)
{
    return json_pack(
        "{s:o,s:o,s:o,s:o}", "part_c", r->part_c > 0 ? json_real(r->part_c) : json_null(), "part_d",
        r->part_d > 0 ? json_real(r->part_d) : json_null(), "overall",
        r->overall > 0 ? json_real(r->overall) : json_null(), "overall_raw", jreal(r->overall_raw));
}

static json_t *pstar_json(const double *p)
{
    json_t *a = json_array();
    for (int k = 1; k <= 5; k++)
        json_array_append_new(a, jreal(p[k]));
    return a;
}

static json_t *overall_dist_json(const double *p)
{
    json_t *o = json_object();
    for (int i = 2; i <= 10; i++) {
        if (!(p[i] > 0)) continue;
        char k[8];
        snprintf(k, sizeof k, "%.1f", i / 2.0);
        json_object_set_new(o, k, json_real(p[i]));
    }
    return o;
}

static json_t *outcome_json(const struct dc_contract *c, const struct pf_outcome *o)
{
    json_t *ms = json_array();
    for (size_t m = 0; m < c->n_measures; m++) {
        const struct pf_measure_outcome *x = &o->m[m];
        json_array_append_new(
            ms, json_pack("{s:s,s:o,s:o,s:i,s:o,s:o}", "code", c->measures[m].code,
                          "expected_closures", jreal(x->exp_closures), "expected_rate",
                          jreal(x->exp_rate), "star_at_expected_rate", x->star_at_exp,
                          "expected_star", jreal(x->exp_star), "p_star", pstar_json(x->p_star)));
    }
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "measures", ms, "ratings_at_expected_rates",
                     ratings_json(&o->at_exp), "expected_overall_raw", jreal(o->exp_overall_raw),
                     "expected_overall", jreal(o->exp_overall), "p_overall",
                     overall_dist_json(o->p_overall), "p_overall_ge_4", jreal(o->p_overall_ge4),
                     "expected_revenue", jreal(o->exp_revenue));
}

static json_t *plan_json(const struct pf_plan_summary *s)
{
    return json_pack("{s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "interventions", (json_int_t)s->n_chosen,
                     "spend", jreal(s->spend), "objective", jreal(s->objective), "gain",
                     jreal(s->gain), "revenue_gain", jreal(s->revenue_gain), "roi", jreal(s->roi),
                     "p_overall_ge_4", jreal(s->out.p_overall_ge4), "expected_overall",
                     jreal(s->out.exp_overall));
}

char *dc_opt_json(const struct dc_portfolio *p, size_t ci, const struct pf_candidates *cand,
                  const struct pf_opt_result *r, long max_items)
{
    const struct dc_contract *c = &p->c[ci];
    json_t *chosen = json_array();
    for (size_t i = 0; i < r->plan.n_chosen && (max_items < 0 || (long)i < max_items); i++) {
        size_t item = r->plan.chosen[i];
        const struct pf_intervention *it = &cand->items[item];
        const char *codes[STORE_MAX_CODES];
        size_t nc = pf_intervention_measures(&c->prob, cand, item, codes, STORE_MAX_CODES);
        json_t *ca = json_array();
        for (size_t k = 0; k < nc && k < STORE_MAX_CODES; k++)
            json_array_append_new(ca, json_string(codes[k]));
        json_array_append_new(
            chosen, json_pack("{s:s,s:s,s:o,s:o,s:o}", "member_hash",
                              p->hashes[c->dense[it->member]], "intervention_type",
                              pf_intervention_type(&c->prob, cand, item), "measure_codes", ca,
                              "cost", jreal(it->cost), "estimated_value", jreal(it->value)));
    }
    json_t *o = json_pack("{s:s,s:i,s:i,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:i}", "contract_id",
                          c->contract_id, "measurement_year", p->year, "star_year", p->star_year,
                          "members", (json_int_t)c->members, "open_gaps", (json_int_t)c->n_gaps,
                          "baseline", outcome_json(c, &r->baseline), "plan", plan_json(&r->plan),
                          "expected", outcome_json(c, &r->plan.out), "naive_by_probability",
                          plan_json(&r->by_probability), "naive_by_weight",
                          plan_json(&r->by_weight), "chosen", chosen, "rounds", r->rounds);
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

char *dc_sim_json(const struct dc_portfolio *p, size_t ci, const struct pf_sim_result *r)
{
    const struct dc_contract *c = &p->c[ci];
    json_t *ms = json_array();
    for (size_t m = 0; m < r->n_measures; m++) {
        const struct pf_sim_measure *x = &r->m[m];
        json_t *o = json_object();
        json_object_set_new(o, "code", json_string(c->measures[m].code));
        json_object_set_new(o, "rate_current", jreal(x->rate_now));
        json_object_set_new(o, "rate_baseline", jreal(x->rate_base));
        json_object_set_new(o, "rate_projected", jreal(x->rate_proj));
        json_object_set_new(o, "star_current", json_integer(x->star_now));
        json_object_set_new(o, "star_baseline", json_integer(x->star_base));
        json_object_set_new(o, "star_projected", json_integer(x->star_proj));
        json_object_set_new(o, "star_projected_cuts_eased", json_integer(x->star_easy));
        json_object_set_new(o, "star_projected_cuts_tightened", json_integer(x->star_hard));
        json_object_set_new(o, "expected_star_projected", jreal(x->exp_star_proj));
        json_object_set_new(o, "p_star_exact", pstar_json(x->exact_p_star));
        json_object_set_new(o, "p_star_monte_carlo", pstar_json(x->mc_p_star));
        json_object_set_new(o, "open_gaps", json_integer(x->open_gaps));
        json_object_set_new(o, "gaps_worked", json_integer(x->gaps_worked));
        json_object_set_new(o, "expected_closures_baseline", jreal(x->exp_closed_base));
        json_object_set_new(o, "expected_closures_projected", jreal(x->exp_closed_proj));
        json_array_append_new(ms, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "contract_id", json_string(c->contract_id));
    json_object_set_new(o, "measurement_year", json_integer(p->year));
    json_object_set_new(o, "star_year", json_integer(p->star_year));
    json_object_set_new(o, "strategy", json_string(pf_strategy_name(r->strategy)));
    json_object_set_new(o, "measures", ms);
    json_object_set_new(o, "ratings_current", ratings_json(&r->now));
    json_object_set_new(o, "ratings_baseline", ratings_json(&r->base));
    json_object_set_new(o, "ratings_projected", ratings_json(&r->proj));
    json_object_set_new(o, "ratings_projected_cuts_eased", ratings_json(&r->proj_easy));
    json_object_set_new(o, "ratings_projected_cuts_tightened", ratings_json(&r->proj_hard));
    json_object_set_new(o, "p_overall_baseline", overall_dist_json(r->exact_base.p_overall));
    json_object_set_new(o, "p_overall_projected", overall_dist_json(r->exact_proj.p_overall));
    json_object_set_new(o, "p_overall_ge_4_baseline", jreal(r->exact_base.p_overall_ge4));
    json_object_set_new(o, "p_overall_ge_4_projected", jreal(r->exact_proj.p_overall_ge4));
    json_object_set_new(o, "monte_carlo_runs", json_integer(r->runs));
    json_object_set_new(o, "p_overall_monte_carlo", overall_dist_json(r->mc_overall));
    json_object_set_new(o, "p_overall_ge_4_monte_carlo", jreal(r->mc_p_ge4));
    json_object_set_new(o, "expected_overall_monte_carlo", jreal(r->mc_exp_overall));
    json_object_set_new(o, "revenue_baseline", jreal(r->revenue_base));
    json_object_set_new(o, "revenue_projected", jreal(r->revenue_proj));
    json_object_set_new(o, "revenue_impact", jreal(r->revenue_impact));
    json_object_set_new(o, "investment", jreal(r->investment));
    json_object_set_new(o, "roi", jreal(r->roi));
    json_object_set_new(o, "gaps_closed", jreal(r->gaps_closed));
    json_object_set_new(o, "members_impacted", json_integer(r->members_impacted));
    json_object_set_new(o, "interventions_worked", json_integer((json_int_t)r->n_worked));
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

int dc_sim_row(const struct dc_portfolio *p, size_t ci, const struct pf_sim_result *r,
               const char *strategy, double closure_rate, struct store_simulation *row, char *err,
               size_t errlen)
{
    memset(row, 0, sizeof *row);
    snprintf(row->contract_id, sizeof row->contract_id, "%s", p->c[ci].contract_id);
    row->measurement_year = p->year;
    snprintf(row->strategy, sizeof row->strategy, "%s", strategy);
    row->closure_rate = closure_rate;
    row->baseline_stars = r->base.overall >= 1 ? r->base.overall : NAN;
    row->projected_stars = r->proj.overall >= 1 ? r->proj.overall : NAN;
    row->revenue_impact = r->revenue_impact;
    row->investment_required = r->investment;
    row->roi = r->investment > 0 ? r->roi : NAN;
    row->gaps_closed = (long)llround(r->gaps_closed);
    row->members_impacted = r->members_impacted;
    row->scenario_details = dc_sim_json(p, ci, r);
    if (!row->scenario_details) return sg_errf(err, errlen, SG_ENOMEM, "simulation: out of memory");
    return SG_OK;
}

int dc_parse_closure(const struct dc_contract *c, const char *spec, double *rates, double *mean,
                     char *err, size_t errlen)
{
    for (size_t m = 0; m < PF_MAX_MEASURES; m++)
        rates[m] = NAN;
    *mean = 0;
    if (!spec || !*spec)
        return sg_errf(err, errlen, SG_EINVAL, "closure: required (CODE=RATE,...)");
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    int n = 0;
    double total = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(t, '=');
        if (!eq) return sg_errf(err, errlen, SG_EINVAL, "closure: '%s' is not CODE=RATE", t);
        *eq = 0;
        size_t m = 0;
        while (m < c->n_measures && strcmp(c->measures[m].code, t))
            m++;
        if (m == c->n_measures)
            return sg_errf(err, errlen, SG_EINVAL,
                           "closure: unknown measure '%s' (not a rated measure of contract %s)", t,
                           c->contract_id);
        char *end;
        double r = strtod(eq + 1, &end);
        if (end == eq + 1 || *end || !(r >= 0 && r <= 1))
            return sg_errf(err, errlen, SG_EINVAL, "closure_rate[%s]: '%s' outside [0,1]", t,
                           eq + 1);
        rates[m] = r;
        total += r;
        n++;
    }
    if (!n) return sg_errf(err, errlen, SG_EINVAL, "closure: required (CODE=RATE,...)");
    *mean = total / n;
    return SG_OK;
}

/* ---- star ratings ---- */

int dc_star_rating(struct dc_portfolio *p, size_t ci, struct store *st, const struct store_actor *a,
                   struct store_star_rating *out, char *err, size_t errlen)
{
    struct dc_contract *c = &p->c[ci];
    struct store_star_rating row;
    memset(&row, 0, sizeof row);
    if (out) memset(out, 0, sizeof *out);
    struct stars_contract_input *in = malloc(sizeof *in);
    struct stars_result *r = malloc(sizeof *r);
    int rc = in && r ? SG_OK : sg_errf(err, errlen, SG_ENOMEM, "star rating: out of memory");
    if (!rc) {
        *in = c->rater.base;
        for (size_t m = 0; m < c->n_measures; m++) {
            struct stars_measure_input *x = &in->m[c->rater.idx[m]];
            x->not_required = 0;
            x->star = 0;
            x->has_score = 1;
            x->score = pf_rate(&c->measures[m], c->measures[m].compliant);
        }
        rc = stars_rate(p->params, in, p->cuts, NULL, r, err, errlen);
    }
    if (!rc) {
        json_t *ms = json_object(), *sc = json_object();
        for (size_t j = 0; j < p->params->nmeasures; j++) {
            if (r->m[j].star >= 1)
                json_object_set_new(ms, p->params->measures[j].code, json_integer(r->m[j].star));
            if (isfinite(r->m[j].score))
                json_object_set_new(sc, p->params->measures[j].code, json_real(r->m[j].score));
        }
        json_t *d = json_pack("{s:s,s:i,s:b,s:i,s:i,s:i}", "explanation", r->explanation,
                              "measures_rated", r->overall.n, "other_measures_from_stored_rating",
                              c->other_measures, "members", (int)c->members, "part_c_measures",
                              r->part_c.n, "part_d_measures", r->part_d.n);
        row.measure_stars = json_dumps(ms, JSON_SORT_KEYS | JSON_COMPACT);
        row.measure_scores =
            json_dumps(sc, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(10));
        row.details = json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT);
        json_decref(ms);
        json_decref(sc);
        json_decref(d);
        snprintf(row.contract_id, sizeof row.contract_id, "%s", c->contract_id);
        row.star_year = p->star_year;
        row.measurement_year = p->year;
        row.part_c = r->part_c.rated ? r->part_c.rating : NAN;
        row.part_d = r->part_d.rated ? r->part_d.rating : NAN;
        row.overall = r->overall.rated ? r->overall.rating : NAN;
        row.reward_factor = r->overall.rated ? r->overall.reward : NAN;
        row.cai = r->overall.rated ? r->overall.cai : NAN;
        if (!row.measure_stars || !row.measure_scores || !row.details)
            rc = sg_errf(err, errlen, SG_ENOMEM, "star rating: out of memory");
    }
    if (!rc) rc = store_star_rating_create(st, a, &row, err, errlen);
    free(in);
    free(r);
    if (!rc && out)
        *out = row;
    else
        store_star_rating_fini(&row);
    return rc;
}
